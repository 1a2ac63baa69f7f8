using System.Globalization;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Fleet.Contracts;

namespace Fleet.Chaos;

/// <summary>A host as grain storage holds it: the refetch status and epoch of its state row.</summary>
internal sealed record StoredHost(RefetchStatus Status, int Epoch);

/// <summary>
/// Reads Azure Table storage directly, bypassing silos and Api: the grain state rows (Orleans' table grain
/// storage keeps one row per grain, partition <c>{service}_{grain type}_{key}</c>, the state serialized as JSON in
/// the binary <c>Data</c> column) and the host index rows (partition <c>{service}-{shard}</c>, row key the host id).
/// </summary>
internal sealed class StorageReader(string connectionString)
{
    private const string GrainStateTable = "OrleansGrainState";

    private const string IndexTable = "FleetHostIndex";

    private readonly TableServiceClient _tables = new(connectionString);

    /// <summary>Every host with stored state, by host id.</summary>
    public async Task<Dictionary<string, StoredHost>> HostsAsync(CancellationToken cancellationToken)
    {
        var prefix = $"{ChaosCluster.ServiceId}_host_";
        var hosts = new Dictionary<string, StoredHost>(StringComparer.Ordinal);
        await foreach (var row in RangeAsync(GrainStateTable, prefix, cancellationToken))
        {
            if (row.RowKey != "host")
            {
                continue;
            }

            var refetch = State(row)?["Refetch"];
            var status = (RefetchStatus)(refetch?["Status"]?.GetValue<int>() ?? 0);
            hosts[row.PartitionKey[prefix.Length..]] = new StoredHost(status, refetch?["Epoch"]?.GetValue<int>() ?? 0);
        }

        return hosts;
    }

    /// <summary>Every host index entry's status, by host id.</summary>
    public async Task<Dictionary<string, RefetchStatus>> IndexAsync(CancellationToken cancellationToken)
    {
        var entries = new Dictionary<string, RefetchStatus>(StringComparer.Ordinal);
        await foreach (var row in RangeAsync(IndexTable, $"{ChaosCluster.ServiceId}-", cancellationToken))
        {
            entries[row.RowKey] = (RefetchStatus)(row.GetInt32("Status") ?? 0);
        }

        return entries;
    }

    /// <summary>Whether a grain of this type and key has a state row, e.g. <c>refetchjob</c> and a job id.</summary>
    public async Task<bool> GrainStateExistsAsync(string grainType, string key, CancellationToken cancellationToken)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {$"{ChaosCluster.ServiceId}_{grainType}_{key}"}");
        await foreach (var _ in _tables.GetTableClient(GrainStateTable).QueryAsync<TableEntity>(filter, maxPerPage: 1, cancellationToken: cancellationToken))
        {
            return true;
        }

        return false;
    }

    private AsyncPageable<TableEntity> RangeAsync(string table, string prefix, CancellationToken cancellationToken)
    {
        // The first string after every key that starts with the prefix, in ordinal order.
        var upper = prefix[..^1] + (char)(prefix[^1] + 1);
        var filter = TableClient.CreateQueryFilter($"PartitionKey ge {prefix} and PartitionKey lt {upper}");

        return _tables.GetTableClient(table).QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken);
    }

    // The state may be split over Data, Data1, Data2... when it outgrows one column.
    private static JsonNode? State(TableEntity row)
    {
        var parts = row.Keys
            .Where(key => key.StartsWith("Data", StringComparison.Ordinal) && key[4..].All(char.IsAsciiDigit))
            .OrderBy(key => key.Length == 4 ? -1 : int.Parse(key[4..], CultureInfo.InvariantCulture))
            .Select(key => row.GetBinary(key) ?? [])
            .SelectMany(bytes => bytes)
            .ToArray();

        return parts.Length == 0 ? null : JsonNode.Parse(parts);
    }
}
