using System.Diagnostics.Metrics;
using Azure.Data.Tables;
using Fleet.Silo;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Resilience;

/// <summary>
/// The silo's table clients keep their connections to storage bounded (<c>Fleet:Cluster:StorageConnections</c>), so a
/// burst of writes, such as thousands of idle hosts collected at once, waits for a connection instead of opening one
/// per request. Against Azurite; the connections are counted from .NET's own HTTP metrics.
/// </summary>
public sealed class StorageConnectionTests
{
    [Fact]
    public async Task ABurstOfWrites_OpensNoMoreConnectionsThanTheLimit_AndEveryWriteLands()
    {
        var cancellationToken = TestContext.Current.CancellationToken;

        // Another host name for the same Azurite, so only this test's connections carry it in the metrics.
        var (connectionString, host) = ThroughLocalhost(TestStorage.ConnectionString);
        var tables = new FleetClusterOptions { StorageConnections = 4 }.CreateTableClient(connectionString);
        var table = tables.GetTableClient($"conn{Guid.NewGuid():N}"[..24]);
        await table.CreateIfNotExistsAsync(cancellationToken);
        using var connections = new OpenConnections(host);

        await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            table.UpsertEntityAsync(new TableEntity("burst", $"row-{i:D3}"), cancellationToken: cancellationToken)));

        var stored = 0;
        await foreach (var _ in table.QueryAsync<TableEntity>(e => e.PartitionKey == "burst", cancellationToken: cancellationToken))
        {
            stored++;
        }

        Assert.Equal(200, stored);
        Assert.InRange(connections.Most, 1, 4);
        await table.DeleteAsync(cancellationToken);
    }

    // The connection string with its table endpoint's host replaced by "localhost" (Azurite listens on 127.0.0.1).
    private static (string ConnectionString, string Host) ThroughLocalhost(string connectionString)
    {
        var endpoint = new TableServiceClient(connectionString).Uri;
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.OrdinalIgnoreCase);
        if (parts.ContainsKey("UseDevelopmentStorage"))
        {
            parts.Clear();
            parts["AccountName"] = TestStorage.DevelopmentAccount;
            parts["AccountKey"] = TestStorage.DevelopmentAccountKey;
        }

        parts["DefaultEndpointsProtocol"] = endpoint.Scheme;
        parts["TableEndpoint"] = new UriBuilder(endpoint) { Host = "localhost" }.Uri.ToString().TrimEnd('/');
        parts.Remove("BlobEndpoint");
        parts.Remove("QueueEndpoint");

        return (string.Join(';', parts.Select(p => $"{p.Key}={p.Value}")), "localhost");
    }

    /// <summary>The most HTTP connections open at once to one host name, from <c>http.client.open_connections</c>.</summary>
    private sealed class OpenConnections : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly string _host;
        private long _open;
        private long _most;

        public OpenConnections(string host)
        {
            _host = host;
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "System.Net.Http" && instrument.Name == "http.client.open_connections")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>(OnMeasurement);
            _listener.Start();
        }

        public long Most => Interlocked.Read(ref _most);

        public void Dispose() => _listener.Dispose();

        // Each state change of a connection (idle, active) is reported as -1 on one state and +1 on the other, so the
        // sum over both states is the connections open.
        private void OnMeasurement(Instrument instrument, long delta, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "server.address" && tag.Value is string address && address == _host)
                {
                    var open = Interlocked.Add(ref _open, delta);
                    long most;
                    while (open > (most = Interlocked.Read(ref _most)) && Interlocked.CompareExchange(ref _most, open, most) != most)
                    {
                    }

                    return;
                }
            }
        }
    }
}
