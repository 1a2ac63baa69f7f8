using Azure.Data.Tables;
using Fleet.Contracts;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Fleet.Grains.Index;

/// <summary>
/// Lists the hosts that have state in grain storage, the source of truth for which hosts exist. Orleans'
/// Azure table grain storage keeps one row per grain: partition <c>{service id}_host_{host id}</c> (the
/// grain id <c>host/{host id}</c> with its '/' replaced), row key the state name <c>host</c>. The listing
/// reads a key range of that table and the key columns only, never the state itself.
/// </summary>
public sealed class HostStateCatalog(TableServiceClient tables, IOptions<ClusterOptions> cluster)
{
    private static readonly string[] s_keyColumns = ["PartitionKey"];

    private readonly TableClient _table = tables.GetTableClient(FleetStorage.GrainStateTable);

    /// <summary>The canonical ids of hosts with stored state that belong to <paramref name="shard"/>.</summary>
    public async Task<List<string>> HostIdsAsync(int shard, CancellationToken cancellationToken)
    {
        var prefix = $"{cluster.Value.ServiceId}_host_";

        // '`' follows '_' in ordinal order, so the range holds exactly the keys that start with the prefix.
        var upper = prefix[..^1] + '`';
        var filter = TableClient.CreateQueryFilter($"PartitionKey ge {prefix} and PartitionKey lt {upper} and RowKey eq {FleetStorage.HostStateName}");
        var ids = new List<string>();
        try
        {
            await foreach (var row in _table.QueryAsync<TableEntity>(filter, select: s_keyColumns, cancellationToken: cancellationToken))
            {
                if (HostIds.TryNormalize(row.PartitionKey[prefix.Length..], out var hostId) && HostIndex.ShardOf(hostId) == shard)
                {
                    ids.Add(hostId);
                }
            }
        }
        catch (Azure.RequestFailedException exception) when (exception.Status == 404)
        {
            // No host has ever been stored: the table does not exist yet.
        }

        return ids;
    }
}
