using Fleet.Grains.Diagnostics;
using Fleet.Grains.Osquery;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Fleet.Grains.Hosts;

/// <summary>
/// Takes the last-seen writes of a silo's deactivating hosts a few at a time (<see cref="CheckInOptions.DeactivationFlushes"/>).
/// Orleans' collector deactivates up to 512 activations per core at once, and when a fleet's agents all stop
/// together (a network outage, a benchmark's idle phase) each of them owes a write. Unbounded, those writes waited
/// for the storage client's connections past its network timeout, were retried into their own earlier writes' ETags,
/// and each failure logged a stack: at 100,000 hosts on Azurite, about 80,000 writes lost and gigabytes of log.
/// </summary>
/// <remarks>
/// A host waits for its turn at most half of Orleans' deactivation timeout, then leaves without writing: only a
/// last-seen time is at stake, and its agent's next check-in sets it again. Waiting until Orleans itself gave up would
/// make Orleans log an error with a stack for every such host. Outcomes are counted in <c>fleet.hosts.last_seen_flushes</c>.
/// The first failure or skip after a quiet spell is logged at once (a failure with its stack); the rest are summed and
/// logged once per <see cref="ReportInterval"/> while they go on, and the last sum when they stop.
/// </remarks>
internal sealed partial class DeactivationFlushes : IDisposable
{
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _turns;
    private readonly int _limit;
    private readonly TimeSpan _turnWait;
    private readonly FleetMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<DeactivationFlushes> _logger;

    // Failures and skips since the last report, the last failure among them, and the timer that reports them; no timer
    // while none happened for a whole interval.
    private readonly Lock _lock = new();
    private long _failed;
    private long _skipped;
    private (string HostId, Exception Error)? _lastFailure;
    private ITimer? _reporter;

    public DeactivationFlushes(
        IOptions<CheckInOptions> options,
        IOptions<GrainCollectionOptions> collection,
        FleetMetrics metrics,
        TimeProvider time,
        ILogger<DeactivationFlushes> logger)
    {
        // The validator refuses a value below 1 with its key; this only keeps the semaphore constructible until it has.
        _limit = Math.Max(1, options.Value.DeactivationFlushes);
        _turns = new SemaphoreSlim(_limit);
        _turnWait = TurnWait(collection.Value.DeactivationTimeout);
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Runs <paramref name="write"/> for <paramref name="hostId"/> when its turn comes; not at all when no turn comes in
    /// half of Orleans' deactivation timeout or <paramref name="cancellationToken"/> (the deactivation's) is cancelled
    /// first. Never throws: the host is leaving either way.
    /// </summary>
    public async Task<DeactivationFlush> FlushAsync(string hostId, Func<Task> write, CancellationToken cancellationToken)
    {
        bool turn;
        using (var waitEnds = new CancellationTokenSource(_turnWait, _time))
        using (var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, waitEnds.Token))
        {
            try
            {
                await _turns.WaitAsync(either.Token);
                turn = true;
            }
            catch (OperationCanceledException)
            {
                turn = false;
            }
        }

        // A turn that came as the deactivation ended is not taken: the activation is gone, and its storage with it.
        if (turn && cancellationToken.IsCancellationRequested)
        {
            _turns.Release();
            turn = false;
        }

        if (!turn)
        {
            Record(DeactivationFlush.Skipped, hostId, null);
            return DeactivationFlush.Skipped;
        }

        try
        {
            await write();
            _metrics.LastSeenFlush(DeactivationFlush.Stored);

            return DeactivationFlush.Stored;
        }
        catch (Exception exception)
        {
            Record(DeactivationFlush.Failed, hostId, exception);
            return DeactivationFlush.Failed;
        }
        finally
        {
            _turns.Release();
        }
    }

    /// <summary>
    /// Logs what is still unreported and stops reporting. The container disposes it after the silo stopped. The
    /// semaphore is left alone: it holds nothing to free without its wait handle, and a write still finishing must be
    /// able to give its turn back.
    /// </summary>
    public void Dispose()
    {
        Report();
        lock (_lock)
        {
            _reporter?.Dispose();
            _reporter = null;
        }
    }

    // A sum is one line: Orleans' storage exceptions carry every inner exception's text and stack in their message
    // (found by a break test: one sum ran to 75 lines). The first failure's whole exception is logged already.
    private static string FirstLine(string message)
    {
        var end = message.AsSpan().IndexOfAny('\r', '\n');
        var line = end < 0 ? message : message[..end];

        return line.Length > 300 ? line[..300] + "…" : line;
    }

    // Half of Orleans' deactivation timeout, so a host leaves before Orleans gives up on it; an infinite one (or one a
    // cancellation timer cannot take) waits without end.
    private static TimeSpan TurnWait(TimeSpan deactivationTimeout) =>
        deactivationTimeout <= TimeSpan.Zero || deactivationTimeout / 2 > TimeSpan.FromMilliseconds(uint.MaxValue - 1)
            ? Timeout.InfiniteTimeSpan
            : deactivationTimeout / 2;

    private void Record(DeactivationFlush outcome, string hostId, Exception? error)
    {
        _metrics.LastSeenFlush(outcome);
        bool first;
        lock (_lock)
        {
            first = _reporter is null;
            if (first)
            {
                // Not under the execution context of the host that got here first: the reports are the silo's.
                using (ExecutionContext.SuppressFlow())
                {
                    _reporter = _time.CreateTimer(static state => ((DeactivationFlushes)state!).Report(), this, ReportInterval, ReportInterval);
                }
            }
            else if (error is not null)
            {
                _failed++;
                _lastFailure = (hostId, error);
            }
            else
            {
                _skipped++;
            }
        }

        if (first && error is not null)
        {
            LogFailed(hostId, ReportInterval.TotalSeconds, error);
        }
        else if (first)
        {
            LogSkipped(hostId, _turnWait.TotalSeconds, _limit, ReportInterval.TotalSeconds);
        }
    }

    private void Report()
    {
        long failed;
        long skipped;
        (string HostId, Exception Error)? last;
        lock (_lock)
        {
            (failed, skipped, last) = (_failed, _skipped, _lastFailure);
            (_failed, _skipped, _lastFailure) = (0, 0, null);
            if (failed + skipped == 0)
            {
                // Quiet for a whole interval: the next failure or skip is logged at once again.
                _reporter?.Dispose();
                _reporter = null;
                return;
            }
        }

        if (last is { } failure)
        {
            LogFailedSince(failed, ReportInterval.TotalSeconds, failure.HostId, failure.Error.GetType().Name, FirstLine(failure.Error.Message));
        }

        if (skipped > 0)
        {
            LogSkippedSince(skipped, ReportInterval.TotalSeconds);
        }
    }

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning,
        Message = "Host {HostId}: could not store its last-seen time while deactivating; further failures are summed and logged every {Interval} s")]
    private partial void LogFailed(string hostId, double interval, Exception exception);

    [LoggerMessage(EventId = 111, Level = LogLevel.Warning,
        Message = "Host {HostId}: deactivated without storing its last-seen time: no write turn came within {Wait} s " +
            "(Fleet:CheckIns:DeactivationFlushes is {Limit}); further ones are summed and logged every {Interval} s")]
    private partial void LogSkipped(string hostId, double wait, int limit, double interval);

    [LoggerMessage(EventId = 112, Level = LogLevel.Warning,
        Message = "{Count} more deactivating hosts could not store their last-seen time in the last {Interval} s; the last, host {HostId}: {Kind}: {Error}")]
    private partial void LogFailedSince(long count, double interval, string hostId, string kind, string error);

    [LoggerMessage(EventId = 113, Level = LogLevel.Warning,
        Message = "{Count} more hosts deactivated without storing their last-seen time in the last {Interval} s: no write turn came in time")]
    private partial void LogSkippedSince(long count, double interval);
}

/// <summary>What became of a deactivating host's last-seen write.</summary>
internal enum DeactivationFlush
{
    Stored,
    Failed,
    Skipped,
}
