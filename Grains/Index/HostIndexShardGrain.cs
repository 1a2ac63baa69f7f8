using System.Runtime.ExceptionServices;
using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Index;

/// <summary>
/// One shard of the host read model, held in memory and flushed to its table partition in batches.
/// A publish lost in a crash before its flush is repaired when the host next changes or activates, or
/// by <see cref="IHostIndexShardGrain.RepairAsync"/>, which rebuilds the shard from the hosts themselves.
/// </summary>
/// <remarks>
/// The shard is also where hosts' wake-ups are durable: each entry carries its host's earliest refetch
/// deadline, re-push or profile deadline, and a host saves an earlier one here (<see
/// cref="IHostIndexShardGrain.TrackWakeAsync"/>, batched with whatever else waits to be saved) before it
/// writes the state that needs it. One reminder per shard sweeps the overdue entries and wakes their hosts,
/// so a host needs no reminder of its own and a refetch costs no reminder writes.
/// </remarks>
internal sealed partial class HostIndexShardGrain(
    HostIndexStore store,
    HostStateCatalog catalog,
    IOptionsMonitor<RefetchOptions> refetchOptions,
    FleetMetrics metrics,
    TimeProvider time,
    ILogger<HostIndexShardGrain> logger) : Grain, IHostIndexShardGrain, IRemindable
{
    private const string SweepReminder = "wake-sweep";

    // Entries that no tracked wake-up carried are saved this often. Queries read memory; storage matters only
    // after a crash, and then a row behind its host still holds a wake-up no later than the host's.
    private static readonly TimeSpan s_flushInterval = TimeSpan.FromSeconds(2);

    // One save is one table transaction, so a tracked wake-up waits for at most one save before its own.
    private const int FlushLimit = 100;

    // A periodic tick saves at most this many transactions of backlog, one after another.
    private const int FlushesPerTick = 10;

    // How long a tracked wake-up waits for others to share its save. It adds this much to a refetch request,
    // and lets a burst of requests (a bulk job, an operator's refetch of a team) cost one write per shard.
    private static readonly TimeSpan s_trackBatchWindow = TimeSpan.FromMilliseconds(50);

    // A live host's own timer acts at its wake-up; the sweep wakes only hosts that stayed overdue this long.
    private static readonly TimeSpan s_sweepGrace = TimeSpan.FromSeconds(1);

    // How many hosts a repair asks at once: enough to hide storage latency, few enough not to crowd the silo.
    private const int RepairParallelism = 32;

    private readonly SortedDictionary<string, HostIndexEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostIndexEntry> _unsaved = new(StringComparer.Ordinal);

    // Hosts whose tracked wake-up waits to be saved: they go first, so a host waiting to store its state never
    // waits behind a backlog of other entries (thousands of enrollments, a repair).
    private readonly HashSet<string> _trackedUnsaved = new(StringComparer.Ordinal);
    private readonly IdentifierLookup _lookup = new();
    private readonly RunningCounts _counts = new();

    // Hosts with a wake-up, and when; kept with the entries so a sweep never walks the whole shard.
    private readonly Dictionary<string, DateTimeOffset> _wakes = new(StringComparer.Ordinal);

    // Wake-ups tracked ahead of a write, held until the host publishes the revision that write gives it.
    private readonly Dictionary<string, WakeGuard> _guards = new(StringComparer.Ordinal);

    // Saves run one after another, so an older batch can never land after a newer one.
    private Task<Exception?> _lastFlush = Task.FromResult<Exception?>(null);

    // The save that tracked wake-ups arriving now will share, while its window is open.
    private Task<Exception?>? _trackBatch;

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in await store.LoadAsync(Shard, cancellationToken))
        {
            Put(entry);
        }

        this.RegisterGrainTimer(
            static (grain, _) => grain.FlushBacklogAsync(FlushesPerTick),
            this,
            new GrainTimerCreationOptions(s_flushInterval, s_flushInterval));

        // Registered by every activation: the one that survives a crash is what brings the shard back.
        var period = refetchOptions.CurrentValue.ReminderPeriod;
        await this.RegisterOrUpdateReminder(SweepReminder, period, period, cancellationToken);
        metrics.StorageWrite(StorageWriteKind.Reminder);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        FlushBacklogAsync(int.MaxValue);

    Task IHostIndexShardGrain.PublishAsync(HostIndexEntry entry)
    {
        Accept(entry, afterWake: false);
        return Task.CompletedTask;
    }

    Task IHostIndexShardGrain.PublishAfterWakeAsync(HostIndexEntry entry)
    {
        Accept(entry, afterWake: true);
        return Task.CompletedTask;
    }

    Task<int> IHostIndexShardGrain.RestoreAsync(IReadOnlyList<HostIndexEntry> entries)
    {
        var (added, updated) = (0, 0);
        foreach (var entry in entries)
        {
            var held = _entries.GetValueOrDefault(entry.HostId);

            // The entry was read from its host a moment ago; a transient change (Verifying) published since keeps
            // the revision but moves StatusChangedAt on, and must not be taken back.
            if (held is not null && held.Revision == entry.Revision && held.StatusChangedAt > entry.StatusChangedAt)
            {
                continue;
            }

            if (Accept(entry, afterWake: false, lastSeenIsChange: false))
            {
                added += held is null ? 1 : 0;
                updated += held is null ? 0 : 1;
            }
        }

        if (added + updated > 0)
        {
            metrics.IndexRestored(added + updated);
            LogRestored(Shard, entries.Count, added, updated);
        }

        return Task.FromResult(added + updated);
    }

    async Task IHostIndexShardGrain.TrackWakeAsync(HostIndexEntry entry, DateTimeOffset wakeAt)
    {
        var hostId = entry.HostId;
        var basis = _entries.TryGetValue(hostId, out var held) && held.Revision > entry.Revision ? held : entry;
        var revision = entry.Revision + 1;
        if (_guards.TryGetValue(hostId, out var guard))
        {
            revision = Math.Max(revision, guard.Revision);
            wakeAt = WakeTimes.Earliest(guard.WakeAt, wakeAt);
        }

        _guards[hostId] = new WakeGuard(revision, wakeAt);
        var tracked = basis with { WakeAt = WakeTimes.Earliest(basis.WakeAt, wakeAt) };
        Put(tracked);
        _unsaved[hostId] = tracked;
        _trackedUnsaved.Add(hostId);

        // The host writes its state only after this answers, so a failed save must reach it. More tracked
        // wake-ups than one save takes wait for the next.
        do
        {
            if (await (_trackBatch ??= FlushAfterWindowAsync()) is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }
        }
        while (_trackedUnsaved.Contains(hostId));
    }

    async Task IRemindable.ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != SweepReminder)
        {
            return;
        }

        // Hosts answer with PublishAfterWakeAsync; one that does not is woken again at the next tick.
        var overdue = time.GetUtcNow() - s_sweepGrace;
        var woken = 0;
        foreach (var (hostId, wakeAt) in _wakes)
        {
            if (wakeAt <= overdue)
            {
                _ = GrainFactory.GetGrain<IHostGrain>(hostId).WakeAsync();
                woken++;
            }
        }

        if (woken > 0)
        {
            metrics.HostsWokenBySweep(woken);
            LogSwept(Shard, woken);
        }

        await FlushBacklogAsync(FlushesPerTick);
    }

    /// <summary>
    /// Takes a published entry unless a newer one is held, and answers whether it changed what is held. A
    /// wake-up tracked for a later revision stays until that revision arrives, or, once due, until the host
    /// answers a sweep with what it stored. With <paramref name="lastSeenIsChange"/> false, an entry that
    /// differs only in its live last-seen time leaves the held one alone.
    /// </summary>
    private bool Accept(HostIndexEntry entry, bool afterWake, bool lastSeenIsChange = true)
    {
        var hostId = entry.HostId;
        if (_entries.TryGetValue(hostId, out var held) && held.Revision > entry.Revision)
        {
            return false;
        }

        if (_guards.TryGetValue(hostId, out var guard))
        {
            if (entry.Revision >= guard.Revision || (afterWake && guard.WakeAt <= time.GetUtcNow()))
            {
                _guards.Remove(hostId);
            }
            else
            {
                entry = entry with { WakeAt = WakeTimes.Earliest(entry.WakeAt, guard.WakeAt) };
            }
        }

        if (held is not null && (held == entry || (!lastSeenIsChange && SameButLastSeen(held, entry))))
        {
            return false;
        }

        Put(entry);
        _unsaved[hostId] = entry;

        return true;
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

            if (held is null || !SameButLastSeen(held, entry))
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
                _trackedUnsaved.Remove(entry.HostId);
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

    /// <summary>
    /// The index follows last_seen_at only when a host stores a change (check-ins write nothing), so a host's live
    /// last-seen time ahead of the held one is not a lost update.
    /// </summary>
    private static bool SameButLastSeen(HostIndexEntry held, HostIndexEntry entry) => held == entry with { LastSeenAt = held.LastSeenAt };

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
        if (entry.WakeAt is { } wakeAt)
        {
            _wakes[entry.HostId] = wakeAt;
        }
        else
        {
            _wakes.Remove(entry.HostId);
        }
    }

    private void Remove(string hostId)
    {
        if (_entries.Remove(hostId, out var held))
        {
            _lookup.Remove(held);
            _counts.Remove(held);
        }

        _wakes.Remove(hostId);
        _guards.Remove(hostId);
        _trackedUnsaved.Remove(hostId);
    }

    /// <summary>Saves up to <paramref name="limit"/> transactions of unsaved entries, stopping at a failure.</summary>
    private async Task FlushBacklogAsync(int limit)
    {
        for (var i = 0; i < limit && _unsaved.Count > 0; i++)
        {
            if (await FlushAsync() is not null)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Saves one transaction of unsaved entries, tracked wake-ups first, once the save before it is done;
    /// answers the failure, if any. What a failed save took is put back for the next one.
    /// </summary>
    private Task<Exception?> FlushAsync()
    {
        var flush = FlushAfterAsync(_lastFlush);
        _lastFlush = flush;

        return flush;
    }

    private async Task<Exception?> FlushAfterWindowAsync()
    {
        await Task.Delay(s_trackBatchWindow, time);
        _trackBatch = null;

        return await FlushAsync();
    }

    private async Task<Exception?> FlushAfterAsync(Task<Exception?> previous)
    {
        await previous;
        if (_unsaved.Count == 0)
        {
            // A tracked entry a repair saved meanwhile is no longer waiting.
            _trackedUnsaved.Clear();
            return null;
        }

        var batch = new List<HostIndexEntry>(FlushLimit);
        var tracked = new List<string>();
        foreach (var hostId in _trackedUnsaved.Take(FlushLimit).ToList())
        {
            _trackedUnsaved.Remove(hostId);
            if (_unsaved.Remove(hostId, out var entry))
            {
                batch.Add(entry);
                tracked.Add(hostId);
            }
        }

        foreach (var (hostId, entry) in _unsaved.Take(FlushLimit - batch.Count).ToList())
        {
            _unsaved.Remove(hostId);
            batch.Add(entry);
        }

        try
        {
            var requests = await store.SaveAsync(Shard, batch, CancellationToken.None);
            for (var i = 0; i < requests; i++)
            {
                metrics.StorageWrite(StorageWriteKind.Index);
            }

            return null;
        }
        catch (Exception exception)
        {
            // Keep what did not reach storage, unless a newer publish already replaced it.
            foreach (var entry in batch)
            {
                _unsaved.TryAdd(entry.HostId, entry);
            }

            _trackedUnsaved.UnionWith(tracked);
            LogFlushFailed(Shard, batch.Count, exception);

            return exception;
        }
    }

    /// <summary>A wake-up tracked ahead of the write that will give its host <see cref="Revision"/>.</summary>
    private readonly record struct WakeGuard(long Revision, DateTimeOffset WakeAt);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "Index shard {Shard}: woke {Count} hosts whose wake-up was overdue")]
    private partial void LogSwept(int shard, int count);

    [LoggerMessage(
        EventId = 203,
        Level = LogLevel.Warning,
        Message = "Index shard {Shard}: of {Sent} entries sent again after a silo died, {Added} were missing and {Updated} behind")]
    private partial void LogRestored(int shard, int sent, int added, int updated);

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Index shard {Shard}: could not save {Count} entries; will retry")]
    private partial void LogFlushFailed(int shard, int count, Exception exception);

    [LoggerMessage(
        EventId = 201,
        Level = LogLevel.Information,
        Message = "Index shard {Shard} repaired: {Hosts} hosts, {Added} added, {Updated} updated, {Removed} removed in {TookMs} ms")]
    private partial void LogRepaired(int shard, int hosts, int added, int updated, int removed, long tookMs);
}
