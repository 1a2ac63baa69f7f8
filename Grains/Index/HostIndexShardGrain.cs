using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Index;

/// <summary>
/// One shard of the host read model, held in memory and flushed to its table partition in batches.
/// A publish lost in a crash before its flush is repaired when the host next changes or activates.
/// </summary>
internal sealed partial class HostIndexShardGrain(
    HostIndexStore store,
    FleetMetrics metrics,
    ILogger<HostIndexShardGrain> logger) : Grain, IHostIndexShardGrain
{
    private static readonly TimeSpan s_flushInterval = TimeSpan.FromSeconds(1);

    private readonly SortedDictionary<string, HostIndexEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostIndexEntry> _unsaved = new(StringComparer.Ordinal);

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in await store.LoadAsync(Shard, cancellationToken))
        {
            _entries[entry.HostId] = entry;
        }

        this.RegisterGrainTimer(
            static (grain, ct) => grain.FlushAsync(ct),
            this,
            new GrainTimerCreationOptions(s_flushInterval, s_flushInterval));
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        FlushAsync(cancellationToken);

    Task IHostIndexShardGrain.PublishAsync(HostIndexEntry entry)
    {
        if (_entries.TryGetValue(entry.HostId, out var held) && held.Revision > entry.Revision)
        {
            return Task.CompletedTask;
        }

        if (held != entry)
        {
            _entries[entry.HostId] = entry;
            _unsaved[entry.HostId] = entry;
        }

        return Task.CompletedTask;
    }

    Task<HostIndexPage> IHostIndexShardGrain.QueryAsync(HostQuery query)
    {
        var page = new List<HostIndexEntry>(Math.Min(query.Limit, 1000));
        var total = 0;
        foreach (var entry in _entries.Values)
        {
            if (!HostIndexRules.Matches(entry, query))
            {
                continue;
            }

            total++;
            var afterCursor = query.AfterHostId is null
                || string.CompareOrdinal(entry.HostId, query.AfterHostId) > 0;
            if (afterCursor && page.Count < query.Limit)
            {
                page.Add(entry);
            }
        }

        return Task.FromResult(new HostIndexPage(page, total));
    }

    Task<HostCounts> IHostIndexShardGrain.CountAsync() => Task.FromResult(HostIndexRules.Count(_entries.Values));

    Task<ProfileSummary> IHostIndexShardGrain.CountOsSettingsAsync(string? teamId)
    {
        var counts = new int[Enum.GetValues<ProfileStatus>().Length];
        foreach (var entry in _entries.Values)
        {
            if (teamId is null || string.Equals(entry.TeamId, teamId, StringComparison.Ordinal))
            {
                counts[(int)entry.OsSettings]++;
            }
        }

        // Hosts without profiles (None) are not part of the summary.
        var summary = new ProfileSummary(
            counts[(int)ProfileStatus.Verified],
            counts[(int)ProfileStatus.Verifying],
            counts[(int)ProfileStatus.Pending],
            counts[(int)ProfileStatus.Failed]);

        return Task.FromResult(summary);
    }

    Task<RefetchJobCounts> IHostIndexShardGrain.CountJobAsync(string jobId) =>
        Task.FromResult(HostIndexRules.CountJob(_entries.Values, jobId));

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_unsaved.Count == 0)
        {
            return;
        }

        var batch = _unsaved.Values.ToList();
        _unsaved.Clear();
        try
        {
            var requests = await store.SaveAsync(Shard, batch, cancellationToken);
            for (var i = 0; i < requests; i++)
            {
                metrics.StorageWrite(StorageWriteKind.Index);
            }
        }
        catch (Exception exception)
        {
            // Keep what did not reach storage, unless a newer publish already replaced it.
            foreach (var entry in batch)
            {
                _unsaved.TryAdd(entry.HostId, entry);
            }

            LogFlushFailed(Shard, batch.Count, exception);
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Index shard {Shard}: could not save {Count} entries; will retry")]
    private partial void LogFlushFailed(int shard, int count, Exception exception);
}
