using System.Diagnostics;

namespace Fleet.Bench;

/// <summary>What one load phase achieved. Latencies are in milliseconds.</summary>
internal sealed record LoadStats(string Name, long Ok, long Errors, TimeSpan Elapsed, double P50, double P90, double P99, double Max)
{
    public double PerSecond => Ok / Math.Max(Elapsed.TotalSeconds, 1e-9);

    /// <summary>Two runs of the same load one after the other: counts and times add up; each percentile is the larger of the two.</summary>
    public static LoadStats Combine(LoadStats first, LoadStats second) => new(
        first.Name,
        first.Ok + second.Ok,
        first.Errors + second.Errors,
        first.Elapsed + second.Elapsed,
        Math.Max(first.P50, second.P50),
        Math.Max(first.P90, second.P90),
        Math.Max(first.P99, second.P99),
        Math.Max(first.Max, second.Max));

    public static LoadStats From(string name, long errors, TimeSpan elapsed, List<float> latencies)
    {
        latencies.Sort();

        return new LoadStats(
            name,
            latencies.Count,
            errors,
            elapsed,
            Percentile(latencies, 0.50),
            Percentile(latencies, 0.90),
            Percentile(latencies, 0.99),
            latencies.Count == 0 ? 0 : latencies[^1]);
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(List<float> sorted, double q)
    {
        if (sorted.Count == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(q * sorted.Count) - 1;

        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }
}

/// <summary>
/// Closed-loop load: a fixed number of workers, each sending its next request when the previous one
/// answered. Bounded both by time and by operation count. The operation sends request <c>i</c> and returns
/// true when the answer was the expected one.
/// </summary>
internal static class ClosedLoop
{
    public static async Task<LoadStats> RunAsync(
        string name,
        int workers,
        TimeSpan duration,
        long maxOperations,
        Func<long, CancellationToken, Task<bool>> operation,
        CancellationToken cancellationToken)
    {
        long next = -1;
        long errors = 0;
        var all = new List<float>();
        var clock = Stopwatch.StartNew();

        async Task WorkAsync()
        {
            var latencies = new List<float>(1024);
            while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= maxOperations)
                {
                    break;
                }

                var started = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    ok = await operation(i, cancellationToken);
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    ok = false;
                }

                if (ok)
                {
                    latencies.Add((float)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                }
            }

            lock (all)
            {
                all.AddRange(latencies);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(WorkAsync, cancellationToken)));

        return LoadStats.From(name, errors, clock.Elapsed, all);
    }
}

/// <summary>
/// One kind of error of a paced run, counted as its Errors are: an answer other than the expected one in the measured
/// part (its status and the start of its body), an exception there (its type), or check-ins the generator did not send
/// because too many were in flight (warm-up included). With how many there were, and the first one's whole text.
/// </summary>
internal sealed record PacedError(string Kind, long Count, string First);

/// <summary>One window of a paced run, by the time its check-ins were due.</summary>
internal sealed record PacedWindow(TimeSpan Start, long Ok, long Errors, double P50, double P99);

/// <summary>The outcome of a paced (open-loop) run of a steady fleet.</summary>
internal sealed record PacedResult(
    int Hosts,
    TimeSpan Interval,
    TimeSpan Measured,
    LoadStats Stats,
    long Overloaded,
    double LateStartP99,
    IReadOnlyList<PacedWindow> Windows,
    IReadOnlyList<PacedError>? ErrorKinds = null)
{
    public double TargetPerSecond => Hosts / Interval.TotalSeconds;

    /// <summary>How many hosts checking in every <paramref name="reference"/> make the same rate.</summary>
    public double EquivalentHosts(TimeSpan reference) => Hosts * (reference / Interval);
}

/// <summary>
/// Open-loop load of a steady fleet: host <c>i</c> checks in at <c>i/N</c> of every interval, whether or
/// not earlier check-ins have answered. Latency counts from when the check-in was due, so a server (or
/// generator) that falls behind shows as latency rather than as silently fewer requests.
/// </summary>
internal static class PacedLoop
{
    private static readonly TimeSpan s_window = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs for <paramref name="warmUp"/> (sent, not counted) and then <paramref name="measured"/>; <paramref name="checkIn"/>
    /// sends host <c>i</c>'s check-in and returns null when the answer was the expected one, otherwise what it was.
    /// </summary>
    public static async Task<PacedResult> RunAsync(
        int hosts,
        TimeSpan interval,
        TimeSpan warmUp,
        TimeSpan measured,
        int maxInFlight,
        Func<int, CancellationToken, Task<string?>> checkIn,
        CancellationToken cancellationToken)
    {
        var total = warmUp + measured;
        var firstMeasured = (int)(warmUp / s_window);
        var errorKinds = new Dictionary<string, (long Count, string First)>(StringComparer.Ordinal);
        var windowCount = (int)Math.Ceiling(total / s_window);
        var windows = Enumerable.Range(0, windowCount).Select(_ => new List<float>()).ToArray();
        var windowErrors = new long[windowCount];
        var lateStarts = new List<float>();
        long inFlight = 0;
        long overloaded = 0;
        var spacing = Stopwatch.Frequency * interval.TotalSeconds / hosts;
        var count = (long)(total.TotalSeconds / interval.TotalSeconds * hosts);
        var origin = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10;

        async Task SendAsync(long sequence, long due)
        {
            var window = (int)Math.Min(windowCount - 1, (long)((due - origin) / (double)Stopwatch.Frequency / s_window.TotalSeconds));
            var late = (float)Stopwatch.GetElapsedTime(due).TotalMilliseconds;
            string? problem;
            try
            {
                problem = await checkIn((int)(sequence % hosts), cancellationToken);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                problem = $"{exception.GetType().Name}: {exception.Message}";
            }

            var ok = problem is null;
            if (!ok && window >= firstMeasured)
            {
                Tally(errorKinds, problem!);
            }

            var latency = (float)Stopwatch.GetElapsedTime(due).TotalMilliseconds;
            lock (windows[window])
            {
                if (ok)
                {
                    windows[window].Add(latency);
                }
                else
                {
                    windowErrors[window]++;
                }
            }

            if (ok && sequence % 16 == 0)
            {
                lock (lateStarts)
                {
                    lateStarts.Add(late);
                }
            }

            Interlocked.Decrement(ref inFlight);
        }

        long sent = 0;
        while (sent < count && !cancellationToken.IsCancellationRequested)
        {
            var now = Stopwatch.GetTimestamp();
            var dueCount = Math.Min(count, (long)((now - origin) / spacing) + 1);
            for (; sent < dueCount; sent++)
            {
                var due = origin + (long)(sent * spacing);
                if (Interlocked.Read(ref inFlight) >= maxInFlight)
                {
                    Interlocked.Increment(ref overloaded);
                    continue;
                }

                Interlocked.Increment(ref inFlight);
                _ = SendAsync(sent, due);
            }

            await Task.Delay(1, cancellationToken);
        }

        var drain = Stopwatch.StartNew();
        while (Interlocked.Read(ref inFlight) > 0 && drain.Elapsed < TimeSpan.FromSeconds(40))
        {
            await Task.Delay(20, cancellationToken);
        }

        // A check-in still unanswered after the drain may yet tally its error: the snapshot is taken under the same lock.
        List<PacedError> kinds;
        lock (errorKinds)
        {
            if (overloaded > 0)
            {
                errorKinds[$"not sent: {maxInFlight} check-ins in flight"] = (overloaded, "the generator's limit");
            }

            kinds = [.. errorKinds.Select(k => new PacedError(k.Key, k.Value.Count, k.Value.First)).OrderByDescending(k => k.Count)];
        }

        return Summarize(hosts, interval, warmUp, measured, windows, windowErrors, overloaded, lateStarts) with { ErrorKinds = kinds };
    }

    // The kind is what precedes the first ": " (an answer's status, an exception's type); the first of a kind keeps the whole text.
    private static void Tally(Dictionary<string, (long Count, string First)> kinds, string problem)
    {
        var separator = problem.IndexOf(": ", StringComparison.Ordinal);
        var kind = separator > 0 ? problem[..separator] : problem;

        lock (kinds)
        {
            kinds[kind] = kinds.TryGetValue(kind, out var held) ? (held.Count + 1, held.First) : (1, problem);
        }
    }

    private static PacedResult Summarize(
        int hosts,
        TimeSpan interval,
        TimeSpan warmUp,
        TimeSpan measured,
        List<float>[] windows,
        long[] windowErrors,
        long overloaded,
        List<float> lateStarts)
    {
        var firstMeasured = (int)(warmUp / s_window);
        var counted = new List<float>();
        long errors = overloaded;
        var series = new List<PacedWindow>();
        for (var w = 0; w < windows.Length; w++)
        {
            lock (windows[w])
            {
                windows[w].Sort();
                series.Add(new PacedWindow(
                    s_window * w,
                    windows[w].Count,
                    windowErrors[w],
                    LoadStats.Percentile(windows[w], 0.5),
                    LoadStats.Percentile(windows[w], 0.99)));
                if (w >= firstMeasured)
                {
                    counted.AddRange(windows[w]);
                    errors += windowErrors[w];
                }
            }
        }

        lateStarts.Sort();

        return new PacedResult(
            hosts,
            interval,
            measured,
            LoadStats.From($"steady {hosts}", errors, measured, counted),
            overloaded,
            LoadStats.Percentile(lateStarts, 0.99),
            series);
    }
}
