using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Index;

/// <summary>
/// One shard of the host read model, held in memory and flushed to its table partition in batches.
/// A publish lost in a crash before its flush is repaired when the host next changes or activates, or
/// by <see cref="IHostIndexShardGrain.RepairAsync"/>, which rebuilds the shard from the hosts themselves.
/// </summary>
internal sealed partial class HostIndexShardGrain(
    HostIndexStore store,
    HostStateCatalog catalog,
    FleetMetrics metrics,
    TimeProvider time,
    ILogger<HostIndexShardGrain> logger) : Grain, IHostIndexShardGrain
{
    private static readonly TimeSpan s_flushInterval = TimeSpan.FromSeconds(1);

    // How many hosts a repair asks at once: enough to hide storage latency, few enough not to crowd the silo.
    private const int RepairParallelism = 32;

    private readonly SortedDictionary<string, HostIndexEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostIndexEntry> _unsaved = new(StringComparer.Ordinal);
    private readonly IdentifierLookup _lookup = new();
    private readonly RunningCounts _counts = new();

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in await store.LoadAsync(Shard, cancellationToken))
        {
            Put(entry);
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
            Put(entry);
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

    Task<HostCounts> IHostIndexShardGrain.CountAsync() => Task.FromResult(_counts.Snapshot());

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

    Task<IReadOnlyList<HostIndexEntry>> IHostIndexShardGrain.FindAsync(string value)
    {
        var found = _lookup.Find(value).Select(hostId => _entries[hostId]);
        if (HostIds.TryNormalize(value, out var hostId) && _entries.TryGetValue(hostId, out var byId))
        {
            found = found.Append(byId);
        }

        return Task.FromResult<IReadOnlyList<HostIndexEntry>>([.. found.DistinctBy(e => e.HostId)]);
    }

    async Task<IndexRepairReport> IHostIndexShardGrain.RepairAsync()
    {
        var started = time.GetTimestamp();
        var stored = await catalog.HostIdsAsync(Shard, CancellationToken.None);

        // Hosts the shard holds but storage lacks are asked too: each answers null unless it exists after all.
        var hostIds = stored.Union(_entries.Keys, StringComparer.Ordinal).ToList();
        var current = await AskHostsAsync(hostIds);

        var changed = new List<HostIndexEntry>();
        var gone = new List<string>();
        var added = 0;
        foreach (var (hostId, entry) in hostIds.Zip(current))
        {
            var held = _entries.GetValueOrDefault(hostId);
            if (entry is null)
            {
                if (held is not null)
                {
                    Remove(hostId);
                    gone.Add(hostId);
                }

                continue;
            }

            // The index follows last_seen_at only when a host stores a change (check-ins write nothing), so a
            // host's live last-seen time ahead of the held one is not a lost update.
            if (held is null || held != entry with { LastSeenAt = held.LastSeenAt })
            {
                added += held is null ? 1 : 0;
                Put(entry);
                _unsaved[hostId] = entry;
                changed.Add(entry);
            }
        }

        await SaveRepairAsync(changed, gone);
        var report = new IndexRepairReport(Shard, _entries.Count, added, changed.Count - added, gone.Count, time.GetElapsedTime(started));
        metrics.IndexRepaired(report.Added, report.Updated, report.Removed);
        LogRepaired(Shard, report.Hosts, report.Added, report.Updated, report.Removed, (long)report.Took.TotalMilliseconds);

        return report;
    }

    /// <summary>Each host's current entry (null for one that does not exist), in the order asked, a few hosts at a time.</summary>
    private async Task<HostIndexEntry?[]> AskHostsAsync(IReadOnlyList<string> hostIds)
    {
        using var gate = new SemaphoreSlim(RepairParallelism);

        return await Task.WhenAll(hostIds.Select(async hostId =>
        {
            await gate.WaitAsync();
            try
            {
                return await GrainFactory.GetGrain<IHostGrain>(hostId).RepublishAsync();
            }
            finally
            {
                gate.Release();
            }
        }));
    }

    /// <summary>Saves a repair before it answers; what the flush timer would save again is taken off its list.</summary>
    private async Task SaveRepairAsync(List<HostIndexEntry> changed, List<string> gone)
    {
        var requests = await store.SaveAsync(Shard, changed, CancellationToken.None);
        foreach (var entry in changed)
        {
            if (_unsaved.TryGetValue(entry.HostId, out var pending) && pending == entry)
            {
                _unsaved.Remove(entry.HostId);
            }
        }

        foreach (var hostId in gone)
        {
            _unsaved.Remove(hostId);
        }

        await store.DeleteAsync(Shard, gone, CancellationToken.None);
        for (var i = 0; i < requests + gone.Count; i++)
        {
            metrics.StorageWrite(StorageWriteKind.Index);
        }
    }

    private void Put(HostIndexEntry entry)
    {
        if (_entries.TryGetValue(entry.HostId, out var held))
        {
            _lookup.Remove(held);
            _counts.Remove(held);
        }

        _entries[entry.HostId] = entry;
        _lookup.Add(entry);
        _counts.Add(entry);
    }

    private void Remove(string hostId)
    {
        if (_entries.Remove(hostId, out var held))
        {
            _lookup.Remove(held);
            _counts.Remove(held);
        }
    }

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

    [LoggerMessage(
        EventId = 201,
        Level = LogLevel.Information,
        Message = "Index shard {Shard} repaired: {Hosts} hosts, {Added} added, {Updated} updated, {Removed} removed in {TookMs} ms")]
    private partial void LogRepaired(int shard, int hosts, int added, int updated, int removed, long tookMs);
}
