using System.Globalization;
using Fleet.Api.Events;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Orleans.TestingHost;

namespace Fleet.Tests.Events;

/// <summary>
/// A cluster whose event hub grants short leases, so that tests see many renewals, and an Api whose streams
/// send a keep-alive comment after a short quiet spell. Tests use fresh host ids.
/// </summary>
public sealed class EventsFixture : IAsyncLifetime
{
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan KeepAlive = TimeSpan.FromMilliseconds(500);

    private readonly EventCluster _cluster = new();
    private WebApplicationFactory<Program> _api = null!;

    public TestCluster Cluster => _cluster.Cluster;

    public IGrainFactory Grains => _cluster.Grains;

    /// <summary>The Api's hub subscription.</summary>
    internal HostEventFeed Feed => _api.Services.GetRequiredService<HostEventFeed>();

    public EventStreamMetrics StreamMetrics => _api.Services.GetRequiredService<EventStreamMetrics>();

    public async ValueTask InitializeAsync()
    {
        await _cluster.InitializeAsync();
        _api = _cluster.Api.WithWebHostBuilder(builder => builder.UseSetting(
            $"{EventStreamOptions.SectionName}:{nameof(EventStreamOptions.KeepAliveInterval)}",
            KeepAlive.ToString("c", CultureInfo.InvariantCulture)));
        await Task.Run(() => _api.Server).WaitAsync(TimeSpan.FromSeconds(60));
    }

    public HttpClient Client(string? token = ApiFactory.ObserverToken)
    {
        var client = _api.CreateClient();
        client.Timeout = Timeout.InfiniteTimeSpan;
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _api.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    private sealed class EventCluster() : ClusterFixture(new Dictionary<string, string?>
    {
        ["Fleet:Events:SubscriptionLease"] = Lease.ToString("c", CultureInfo.InvariantCulture),
    });
}
