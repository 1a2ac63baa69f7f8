namespace Fleet.Grains.Diagnostics;

/// <summary>
/// Counts events a full queue refused and says when to report them: at the first, then at most once per
/// <c>interval</c>, each report carrying how many were refused since the one before. Keeps a queue that
/// stays full from writing one log line per event.
/// </summary>
internal sealed class DropTally(TimeSpan interval, TimeProvider time)
{
    private readonly Lock _lock = new();
    private long _sinceReport;
    private DateTimeOffset? _lastReport;

    /// <summary>Counts one drop; returns the number to report when a report is due, otherwise null.</summary>
    public long? Count()
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            _sinceReport++;
            if (_lastReport is { } last && now - last < interval)
            {
                return null;
            }

            _lastReport = now;
            var due = _sinceReport;
            _sinceReport = 0;

            return due;
        }
    }
}
