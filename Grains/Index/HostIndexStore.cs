using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Fleet.Contracts;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Fleet.Grains.Index;

/// <summary>
/// Persists index shards as one table row per host, so a shard's size never hits an entity limit and a
/// change costs one small upsert (batched per shard). Partitions are <c>{service id}-{shard}</c>, so
/// several services can share a storage account.
/// </summary>
public sealed class HostIndexStore(TableServiceClient tables, IOptions<ClusterOptions> cluster)
{
    private const int MaxBatch = 100;
    private readonly TableClient _table = tables.GetTableClient(FleetStorage.IndexTable);
    private volatile bool _tableReady;

    public async Task<List<HostIndexEntry>> LoadAsync(int shard, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        var partition = Partition(shard);
        var entries = new List<HostIndexEntry>();
        var rows = _table.QueryAsync<TableEntity>(e => e.PartitionKey == partition, cancellationToken: cancellationToken);
        await foreach (var row in rows)
        {
            entries.Add(FromRow(row));
        }

        return entries;
    }

    /// <summary>Upserts the entries in transactions of at most 100; returns how many requests it made.</summary>
    public async Task<int> SaveAsync(int shard, IReadOnlyCollection<HostIndexEntry> entries, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        var partition = Partition(shard);
        var requests = 0;
        foreach (var chunk in entries.Chunk(MaxBatch))
        {
            var actions = chunk.Select(e => new TableTransactionAction(TableTransactionActionType.UpsertReplace, ToRow(partition, e)));
            try
            {
                await _table.SubmitTransactionAsync(actions, cancellationToken);
                requests++;
            }
            catch (TableTransactionFailedException)
            {
                // One row the service refuses must not hold back the others: save them one by one.
                requests += await SaveEachAsync(partition, chunk, cancellationToken);
            }
        }

        return requests;
    }

    /// <summary>Deletes the rows of hosts that left the shard, one request each (removals are rare); a row already gone is fine.</summary>
    public async Task DeleteAsync(int shard, IEnumerable<string> hostIds, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        var partition = Partition(shard);
        foreach (var hostId in hostIds)
        {
            // The client treats a missing entity as deleted rather than failing.
            await _table.DeleteEntityAsync(partition, hostId, ETag.All, cancellationToken);
        }
    }

    private async Task<int> SaveEachAsync(string partition, HostIndexEntry[] entries, CancellationToken cancellationToken)
    {
        var requests = 0;
        foreach (var entry in entries)
        {
            try
            {
                await _table.UpsertEntityAsync(ToRow(partition, entry), TableUpdateMode.Replace, cancellationToken);
                requests++;
            }
            catch (RequestFailedException exception) when (exception.Status is 400 or 413)
            {
                // Refused for its content, not for an outage; retrying would fail forever. The host
                // publishes again on its next change.
            }
        }

        return requests;
    }

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (_tableReady)
        {
            return;
        }

        await _table.CreateIfNotExistsAsync(cancellationToken);
        _tableReady = true;
    }

    private string Partition(int shard) =>
        string.Create(CultureInfo.InvariantCulture, $"{cluster.Value.ServiceId}-{shard:D3}");

    private static TableEntity ToRow(string partition, HostIndexEntry e) => new(partition, e.HostId)
    {
        ["Revision"] = e.Revision,
        ["Status"] = (int)e.Status,
        ["Platform"] = Cap(e.Platform),
        ["OsVersion"] = Cap(e.OsVersion),
        ["Hostname"] = Cap(e.Hostname),
        ["Serial"] = Cap(e.Serial),
        ["LastSeenAt"] = e.LastSeenAt,
        ["StatusChangedAt"] = e.StatusChangedAt,
        ["ReasonCode"] = e.Reason?.Code,
        ["ReasonMessage"] = Cap(e.Reason?.Message, 1024),
        ["TeamId"] = e.TeamId,
        ["OsSettings"] = (int)e.OsSettings,
        ["CertificateNotAfter"] = e.CertificateNotAfter,
        ["Identity"] = (int?)e.Identity,
        ["RefetchJobId"] = e.RefetchJobId,
        ["WakeAt"] = e.WakeAt,
    };

    private static string? Cap(string? value, int length = 255) =>
        value is null || value.Length <= length ? value : value[..length];

    // Rows written before profiles existed have no column; a value from a newer build reads as None.
    private static ProfileStatus OsSettings(int? value) =>
        value is { } number && Enum.IsDefined((ProfileStatus)number) ? (ProfileStatus)number : ProfileStatus.None;

    // Rows written before identities existed have no column: no certificate. A value from a newer build reads as none too.
    private static IdentityState? Identity(int? value) =>
        value is { } number && Enum.IsDefined((IdentityState)number) ? (IdentityState)number : null;

    private static HostIndexEntry FromRow(TableEntity row)
    {
        var code = row.GetString("ReasonCode");
        var reason = code is null ? null : new Reason(code, row.GetString("ReasonMessage") ?? string.Empty);

        return new HostIndexEntry(
            row.RowKey,
            row.GetInt64("Revision") ?? 0,
            (RefetchStatus)(row.GetInt32("Status") ?? 0),
            row.GetString("Platform"),
            row.GetString("OsVersion"),
            row.GetString("Hostname"),
            row.GetString("Serial"),
            row.GetDateTimeOffset("LastSeenAt"),
            row.GetDateTimeOffset("StatusChangedAt") ?? DateTimeOffset.UnixEpoch,
            reason,
            row.GetString("TeamId"),
            OsSettings(row.GetInt32("OsSettings")),
            row.GetDateTimeOffset("CertificateNotAfter"),
            Identity(row.GetInt32("Identity")),
            row.GetString("RefetchJobId"),
            row.GetDateTimeOffset("WakeAt"));
    }
}
