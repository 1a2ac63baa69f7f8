using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Jobs;

/// <summary>
/// One bulk refetch. A grain timer paces it: each tick takes what the job's own token bucket and the cluster's
/// limiter allow, reads that many hosts after its cursor (from the index, or from its sorted id list), writes
/// them as its batch with the cursor past them, and only then asks each host. Once the walk ends it drains:
/// it counts its hosts by status in the index until none is pending or verifying. A reminder brings a running
/// or draining job back after a silo restart; the new activation asks its stored batch again first.
/// </summary>
internal sealed partial class RefetchJobGrain(
    [PersistentState("job", FleetStorage.JobStore)] IPersistentState<RefetchJobRecord> store,
    IOptionsMonitor<RefetchJobOptions> options,
    TimeProvider time,
    FleetMetrics metrics,
    ILogger<RefetchJobGrain> logger) : Grain, IRefetchJobGrain, IRemindable
{
    private const string KeepAliveReminder = "refetch-job";

    private static readonly TimeSpan s_paceInterval = TimeSpan.FromMilliseconds(100);

    private readonly List<(DateTimeOffset At, int Requested)> _rateSamples = [];
    private IGrainTimer? _timer;
    private TokenBucket? _bucket;
    private DateTimeOffset _countedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _nextStragglerCheck = DateTimeOffset.MinValue;
    private DateTimeOffset? _recheckedAt;

    private RefetchJobRecord Job => store.State;

    private string JobId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Job.Active)
        {
            LogResumed(JobId, Words(Job.State), Job.Requested, Job.Batch.Count);
            StartPacing();
        }

        return Task.CompletedTask;
    }

    async Task<RefetchJobStartResult> IRefetchJobGrain.StartAsync(RefetchJobSpec spec)
    {
        var normalised = Normalise(spec);
        if (Job.Spec is { } existing)
        {
            var outcome = SameSpec(existing, normalised) ? RefetchJobStartOutcome.AlreadyStarted : RefetchJobStartOutcome.Conflict;

            return new RefetchJobStartResult(outcome, View());
        }

        var now = time.GetUtcNow();
        Job.Spec = normalised;
        Job.State = RefetchJobState.Running;
        Job.StartedAt = now;
        Job.Matched = normalised.HostIds?.Count ?? await CountMatchesAsync(normalised.Filter!);

        // The reminder first: a crash after the write must not leave a running job nobody wakes.
        await this.RegisterOrUpdateReminder(KeepAliveReminder, options.CurrentValue.ReminderPeriod, options.CurrentValue.ReminderPeriod);
        metrics.StorageWrite(StorageWriteKind.Reminder);
        await WriteAsync(now);
        metrics.RefetchJobStarted();
        LogStarted(JobId, normalised.RatePerSecond, Job.Matched, normalised.HostIds is null ? "filter" : "host ids");
        StartPacing();

        return new RefetchJobStartResult(RefetchJobStartOutcome.Started, View());
    }

    async Task<RefetchJobView?> IRefetchJobGrain.GetAsync()
    {
        if (Job.Spec is null)
        {
            return null;
        }

        // A finished job keeps counting when read: refetches requested before a cancel still run to their end.
        var now = time.GetUtcNow();
        if (now >= _countedAt + options.CurrentValue.ProgressPeriod)
        {
            await CountAsync(now);
        }

        return View();
    }

    async Task<RefetchJobView?> IRefetchJobGrain.CancelAsync()
    {
        if (Job.Spec is null)
        {
            return null;
        }

        if (Job.Active)
        {
            var from = Job.State;
            await FinishAsync(RefetchJobState.Cancelled, time.GetUtcNow());
            LogFinished(JobId, Words(from), Words(Job.State), Job.Requested, Job.Unknown);
        }

        return View();
    }

    async Task IRemindable.ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != KeepAliveReminder)
        {
            return;
        }

        // At-least-once, and possibly for a job that finished: the stored state decides.
        if (!Job.Active)
        {
            await RemoveReminderAsync();
            return;
        }

        StartPacing();
    }

    private void StartPacing() =>
        _timer ??= this.RegisterGrainTimer(
            static (grain, _) => grain.TickAsync(),
            this,
            new GrainTimerCreationOptions(TimeSpan.Zero, s_paceInterval));

    /// <summary>One pacing step: the stored batch first (after a restart), then new requests, then progress.</summary>
    private async Task TickAsync()
    {
        if (!Job.Active)
        {
            StopPacing();
            return;
        }

        if (Job.Batch.Count > 0)
        {
            await AskBatchAsync();
        }

        var now = time.GetUtcNow();
        if (Job.State == RefetchJobState.Running)
        {
            await RequestDueAsync(now);
        }

        if (now >= _countedAt + options.CurrentValue.ProgressPeriod)
        {
            await CountAsync(now);
        }

        // On every tick, with the latest counts whoever took them: reads count too (GetAsync), and a job read as often
        // as it counts would otherwise never be counted by the timer, so never completed.
        await DrainAsync(now);
    }

    /// <summary>Asks as many hosts as both the job's bucket and the cluster's limiter allow now.</summary>
    private async Task RequestDueAsync(DateTimeOffset now)
    {
        _bucket ??= TokenBucket.Full(Job.Spec!.RatePerSecond, now);
        var (bucket, tokens) = _bucket.Take(now, int.MaxValue);
        _bucket = bucket;
        if (tokens == 0)
        {
            return;
        }

        var granted = await GrainFactory.GetGrain<IRefetchRateLimiterGrain>(RefetchJobs.RateLimiterKey).AcquireAsync(JobId, tokens);
        _bucket = _bucket.Return(tokens - granted);
        var remaining = granted;
        while (remaining > 0)
        {
            var take = Math.Min(remaining, options.CurrentValue.BatchSize);
            var hosts = await NextHostsAsync(take);
            if (hosts.Count > 0)
            {
                Job.Batch = hosts;
                Job.Cursor = hosts[^1];
                await WriteAsync(now);
                await AskBatchAsync();
                remaining -= hosts.Count;
            }

            if (hosts.Count < take)
            {
                // Fewer hosts than asked for: the walk reached the end of the list or of the index.
                _bucket = _bucket.Return(remaining);
                await EndWalkAsync(now);
                return;
            }
        }
    }

    /// <summary>Asks every host of the stored batch, then counts them; the batch is cleared in memory and the next write stores that.</summary>
    private async Task AskBatchAsync()
    {
        var results = await Task.WhenAll(Job.Batch.Select(id => GrainFactory.GetGrain<IHostGrain>(id).RequestRefetchForJobAsync(JobId)));
        foreach (var result in results)
        {
            metrics.RefetchJobRequest(result.Outcome);
            if (result.Outcome == RefetchOutcome.UnknownHost)
            {
                Job.Unknown++;
            }
            else
            {
                Job.Requested++;
            }
        }

        LogBatchAsked(JobId, Job.Batch.Count, Job.Cursor ?? string.Empty, Job.Requested);
        Job.LastRequestAt = time.GetUtcNow();
        Job.Batch = [];
    }

    private async Task EndWalkAsync(DateTimeOffset now)
    {
        // The filter's count was taken at the start; hosts may have joined or left it since. What was reached counts.
        Job.Matched = Job.Requested + Job.Unknown;
        Job.State = RefetchJobState.Draining;
        await WriteAsync(now);
        LogWalked(JobId, Job.Requested, Job.Unknown);
    }

    /// <summary>A draining job completes when the index shows nothing of it in flight; a straggler is asked to publish again.</summary>
    private async Task DrainAsync(DateTimeOffset now)
    {
        if (Job.State != RefetchJobState.Draining)
        {
            return;
        }

        if (JobProgress.IsDone(Job.State, Job.Counts, Job.LastRequestAt, now))
        {
            if (JobProgress.Superseded(Job.Requested, Job.Counts) > 0 && !await RecheckedAsync(now))
            {
                return;
            }

            await FinishAsync(RefetchJobState.Completed, now);
            LogFinished(JobId, Words(RefetchJobState.Draining), Words(Job.State), Job.Requested, Job.Unknown);
            return;
        }

        var period = options.CurrentValue.StragglerCheckPeriod;
        if (Job.LastRequestAt is { } last && now >= last + period && now >= _nextStragglerCheck)
        {
            _nextStragglerCheck = now + period;
            await RepublishStragglersAsync();
        }
    }

    /// <summary>
    /// Every refetch of the job should be over by now, so a host the index still shows in flight most likely
    /// published its last change into a lost message. It is asked to publish again; the next count sees it.
    /// </summary>
    private async Task RepublishStragglersAsync()
    {
        var limit = options.CurrentValue.BatchSize;
        var stragglers = new List<string>();
        foreach (var status in new[] { RefetchStatus.Pending, RefetchStatus.Verifying })
        {
            var query = new HostQuery(status, null, null, limit, RefetchJobId: JobId);
            var pages = await HostIndex.AskEveryShardAsync(GrainFactory, shard => shard.QueryAsync(query));
            stragglers.AddRange(pages.SelectMany(p => p.Entries).Select(e => e.HostId));
        }

        LogStragglers(JobId, stragglers.Count);
        await Task.WhenAll(stragglers.Select(id => GrainFactory.GetGrain<IHostGrain>(id).RepublishAsync()));
    }

    /// <summary>
    /// Before a job completes with superseded hosts, it makes sure they are: a host whose tagged index update a
    /// crashed shard lost looks superseded too, and no straggler check finds it, since the index no longer names
    /// the job for it. Once per activation the job asks every host it requested, except those the index already
    /// counts for it, to publish again, and trusts its counts once the index had time to hear them (publishing
    /// is one-way). True when the counts can be trusted.
    /// </summary>
    private async Task<bool> RecheckedAsync(DateTimeOffset now)
    {
        if (_recheckedAt is { } at)
        {
            return _countedAt >= at + JobProgress.IndexSettle;
        }

        var asked = 0;
        await foreach (var hosts in RequestedHostsNotCountedAsync())
        {
            await Task.WhenAll(hosts.Select(id => GrainFactory.GetGrain<IHostGrain>(id).RepublishAsync()));
            asked += hosts.Count;
        }

        _recheckedAt = time.GetUtcNow();
        LogRechecking(JobId, JobProgress.Superseded(Job.Requested, Job.Counts), asked);

        return false;
    }

    /// <summary>
    /// The hosts the walk reached, a batch at a time: every explicit id (at most a thousand; a host whose entry
    /// is current republishes it unchanged, which costs no write), or the filter again up to the cursor, less the
    /// hosts the index already counts for this job. A host whose update was lost keeps its entry from before the
    /// job asked it, which the filter matched then and matches still.
    /// </summary>
    private async IAsyncEnumerable<List<string>> RequestedHostsNotCountedAsync()
    {
        var size = options.CurrentValue.BatchSize;
        if (Job.Spec!.HostIds is { } ids)
        {
            foreach (var chunk in ids.Chunk(size))
            {
                yield return [.. chunk];
            }

            yield break;
        }

        var cursor = Job.Cursor;
        string? after = null;
        while (cursor is not null)
        {
            var query = Job.Spec.Filter! with { AfterHostId = after, Limit = size };
            var pages = await HostIndex.AskEveryShardAsync(GrainFactory, shard => shard.QueryAsync(query));
            var entries = pages.SelectMany(p => p.Entries)
                .Where(e => string.CompareOrdinal(e.HostId, cursor) <= 0)
                .OrderBy(e => e.HostId, StringComparer.Ordinal)
                .Take(size)
                .ToList();
            if (entries.Count == 0)
            {
                yield break;
            }

            yield return [.. entries.Where(e => e.RefetchJobId != JobId).Select(e => e.HostId)];
            after = entries[^1].HostId;
        }
    }

    private async Task FinishAsync(RefetchJobState state, DateTimeOffset now)
    {
        Job.State = state;
        Job.FinishedAt = now;
        await WriteAsync(now);
        StopPacing();
        await RemoveReminderAsync();
        metrics.RefetchJobFinished(state);
    }

    /// <summary>The next <paramref name="count"/> host ids after the cursor, in ordinal order.</summary>
    private async Task<List<string>> NextHostsAsync(int count)
    {
        if (Job.Spec!.HostIds is { } ids)
        {
            var start = Job.Cursor is null ? 0 : FirstAfter(ids, Job.Cursor);

            return [.. ids.Skip(start).Take(count)];
        }

        var query = Job.Spec.Filter! with { AfterHostId = Job.Cursor, Limit = count };
        var pages = await HostIndex.AskEveryShardAsync(GrainFactory, shard => shard.QueryAsync(query));

        return [.. pages.SelectMany(p => p.Entries).Select(e => e.HostId).Order(StringComparer.Ordinal).Take(count)];
    }

    private static int FirstAfter(IReadOnlyList<string> sorted, string cursor)
    {
        int low = 0, high = sorted.Count;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (string.CompareOrdinal(sorted[middle], cursor) <= 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    private async Task<int> CountMatchesAsync(HostQuery filter)
    {
        var pages = await HostIndex.AskEveryShardAsync(GrainFactory, shard => shard.QueryAsync(filter with { AfterHostId = null, Limit = 0 }));

        return pages.Sum(p => p.Total);
    }

    private async Task CountAsync(DateTimeOffset now)
    {
        var counts = await HostIndex.AskEveryShardAsync(GrainFactory, shard => shard.CountJobAsync(JobId));
        Job.Counts = counts.Aggregate(RefetchJobCounts.Zero, (sum, c) => sum.Plus(c));
        _countedAt = now;
        JobProgress.AddSample(_rateSamples, now, Job.Requested);
    }

    private async Task WriteAsync(DateTimeOffset now)
    {
        Job.UpdatedAt = now;
        await store.WriteOrDropAsync((exception, reason) =>
        {
            LogWriteFailed(JobId, reason, exception);
            StopPacing();
            DeactivateOnIdle();
        });
        metrics.StorageWrite(StorageWriteKind.GrainState);
    }

    private void StopPacing()
    {
        _timer?.Dispose();
        _timer = null;
    }

    private async Task RemoveReminderAsync()
    {
        if (await this.GetReminder(KeepAliveReminder) is not { } reminder)
        {
            return;
        }

        try
        {
            await this.UnregisterReminder(reminder);
            metrics.StorageWrite(StorageWriteKind.Reminder);
        }
        catch (ReminderException exception)
        {
            // Already gone or changed by another activation; a stray tick finds the job finished and tries again.
            LogReminderRemovalFailed(JobId, exception);
        }
    }

    private RefetchJobView View()
    {
        var now = time.GetUtcNow();
        var rate = Job.State == RefetchJobState.Running ? JobProgress.Rate(_rateSamples) : 0;
        var (requested, counts, superseded) = JobProgress.Shown(Job.Requested, Job.Batch.Count, Job.Counts, Job.LastRequestAt, now);

        return new RefetchJobView(
            JobId,
            Job.State,
            Job.Spec!,
            Job.Matched,
            requested,
            counts,
            superseded,
            Job.Unknown,
            rate,
            JobProgress.Eta(Job.State, Job.Matched, Job.Requested + Job.Unknown, rate, now),
            Job.StartedAt,
            Job.FinishedAt,
            Job.UpdatedAt);
    }

    /// <summary>
    /// Resolves the default rate and sorts the explicit ids without repeats, so the walk can follow a cursor.
    /// The ids go in a <see cref="List{T}"/>: grain storage writes the concrete type's name, and a collection
    /// expression's compiler-made type could not be read back.
    /// </summary>
    private RefetchJobSpec Normalise(RefetchJobSpec spec) => spec with
    {
        RatePerSecond = spec.RatePerSecond > 0 ? spec.RatePerSecond : options.CurrentValue.DefaultRate,
        HostIds = spec.HostIds?.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList(),
    };

    private static bool SameSpec(RefetchJobSpec a, RefetchJobSpec b) =>
        a.Filter == b.Filter
        && a.RatePerSecond == b.RatePerSecond
        && a.CreatedAt == b.CreatedAt
        && (a.HostIds ?? []).SequenceEqual(b.HostIds ?? [], StringComparer.Ordinal)
        && (a.HostIds is null) == (b.HostIds is null);

    private static string Words(RefetchJobState state) => state.ToString().ToLowerInvariant();

    [LoggerMessage(EventId = 700, Level = LogLevel.Information,
        Message = "Refetch job {JobId} started: {Rate}/s, {Matched} hosts matched by {Selection}")]
    private partial void LogStarted(string jobId, int rate, int matched, string selection);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information,
        Message = "Refetch job {JobId} resumed {State}: {Requested} requested, {Batch} to ask again")]
    private partial void LogResumed(string jobId, string state, int requested, int batch);

    [LoggerMessage(EventId = 702, Level = LogLevel.Debug,
        Message = "Refetch job {JobId}: asked {Count} hosts up to {Cursor}; {Requested} requested in all")]
    private partial void LogBatchAsked(string jobId, int count, string cursor, int requested);

    [LoggerMessage(EventId = 703, Level = LogLevel.Information,
        Message = "Refetch job {JobId}: running -> draining, every host reached ({Requested} requested, {Unknown} unknown)")]
    private partial void LogWalked(string jobId, int requested, int unknown);

    [LoggerMessage(EventId = 704, Level = LogLevel.Information,
        Message = "Refetch job {JobId}: {From} -> {To} ({Requested} requested, {Unknown} unknown)")]
    private partial void LogFinished(string jobId, string from, string to, int requested, int unknown);

    [LoggerMessage(EventId = 705, Level = LogLevel.Warning,
        Message = "Refetch job {JobId}: {Count} hosts still in flight in the index past the longest refetch; asked to publish again")]
    private partial void LogStragglers(string jobId, int count);

    [LoggerMessage(EventId = 707, Level = LogLevel.Information,
        Message = "Refetch job {JobId}: {Superseded} requested hosts look superseded; asked {Asked} hosts to publish again before completing")]
    private partial void LogRechecking(string jobId, int superseded, int asked);

    [LoggerMessage(EventId = 706, Level = LogLevel.Debug, Message = "Refetch job {JobId}: keep-alive reminder was already removed")]
    private partial void LogReminderRemovalFailed(string jobId, Exception exception);

    [LoggerMessage(EventId = 709, Level = LogLevel.Error,
        Message = "Refetch job {JobId}: state not stored, {Reason}; dropping this activation")]
    private partial void LogWriteFailed(string jobId, string reason, Exception exception);
}
