using Fleet.Contracts;

namespace Fleet.Grains.Jobs;

/// <summary>The arithmetic of a job's progress, apart from the grain: superseded hosts, rate, ETA and when it is done.</summary>
public static class JobProgress
{
    /// <summary>How far back the measured rate looks.</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long after its last request a job trusts the index to show every host it requested. A host
    /// publishes right after its request is stored, so a host missing from the job's counts after this is
    /// one a newer refetch took over, not one the index has yet to hear of.
    /// </summary>
    public static readonly TimeSpan IndexSettle = TimeSpan.FromSeconds(3);

    /// <summary>Requested hosts whose latest refetch is no longer the job's; never negative while the index catches up.</summary>
    public static int Superseded(int requested, RefetchJobCounts counts) => Math.Max(0, requested - counts.Total);

    /// <summary>
    /// What a view shows, so that requested = pending + verifying + verified + failed + superseded holds at
    /// every read. While a batch of <paramref name="asking"/> hosts is being asked, the index may already count
    /// some of them: they are shown as requested. Until the index had time to hear of the last request,
    /// requested hosts it does not count yet were just asked, so they show as pending rather than superseded.
    /// </summary>
    public static (int Requested, RefetchJobCounts Counts, int Superseded) Shown(
        int requested, int asking, RefetchJobCounts counted, DateTimeOffset? lastRequestAt, DateTimeOffset now)
    {
        var shownRequested = Math.Clamp(counted.Total, requested, requested + asking);
        var uncounted = Superseded(shownRequested, counted);

        return lastRequestAt is { } last && now < last + IndexSettle
            ? (shownRequested, counted with { Pending = counted.Pending + uncounted }, 0)
            : (shownRequested, counted, uncounted);
    }

    /// <summary>
    /// True when a draining job is done: none of its hosts pending or verifying, and the index had time to
    /// hear of the last request.
    /// </summary>
    public static bool IsDone(RefetchJobState state, RefetchJobCounts counts, DateTimeOffset? lastRequestAt, DateTimeOffset now) =>
        state == RefetchJobState.Draining
        && counts.Pending + counts.Verifying == 0
        && (lastRequestAt is not { } last || now >= last + IndexSettle);

    /// <summary>Requests per second over the samples (time, requested so far); 0 with fewer than two.</summary>
    public static double Rate(IReadOnlyList<(DateTimeOffset At, int Requested)> samples)
    {
        if (samples.Count < 2)
        {
            return 0;
        }

        var (firstAt, firstCount) = samples[0];
        var (lastAt, lastCount) = samples[^1];
        var seconds = (lastAt - firstAt).TotalSeconds;

        return seconds <= 0 ? 0 : Math.Round((lastCount - firstCount) / seconds, 1);
    }

    /// <summary>Keeps the samples within <see cref="RateWindow"/> of the newest, which is added.</summary>
    public static void AddSample(List<(DateTimeOffset At, int Requested)> samples, DateTimeOffset now, int requested)
    {
        samples.Add((now, requested));
        samples.RemoveAll(s => s.At < now - RateWindow);
    }

    /// <summary>
    /// When the last host will have been requested at the measured rate: null when nothing is being requested
    /// (or the job is past requesting), now when every matched host is reached.
    /// </summary>
    public static DateTimeOffset? Eta(RefetchJobState state, int matched, int reached, double rate, DateTimeOffset now)
    {
        if (state != RefetchJobState.Running)
        {
            return null;
        }

        var remaining = matched - reached;
        if (remaining <= 0)
        {
            return now;
        }

        return rate > 0 ? now + TimeSpan.FromSeconds(remaining / rate) : null;
    }
}
