using System.Diagnostics;

namespace Fleet.Bench.Scenarios;

/// <summary>Scenario 5's numbers: short probes to find the size, then the hold at that size.</summary>
internal sealed record SteadyResult(
    IReadOnlyList<PacedResult> Probes,
    IReadOnlyList<(PacedResult Result, CpuUse Cpu)> Holds,
    TimeSpan Interval,
    int RefetchedHosts)
{
    public const double P99LimitMs = 100;

    public static bool Passes(PacedResult result) => result.Stats.P99 < P99LimitMs && result.Stats.Errors == 0;

    /// <summary>The largest size that held for the whole window, if any.</summary>
    public PacedResult? Held => Holds.Select(h => h.Result).Where(Passes).MaxBy(r => r.Hosts);
}

/// <summary>
/// Scenario 5: N hosts each check in (distributed/read, nothing to do) every 10 s, paced open-loop. Probes
/// of increasing N find the largest that keeps p99 under 100 ms with no errors; that N must then hold for
/// the full window. The hosts are the scale scenario's (enrolled, one completed refetch).
/// </summary>
internal static class SteadyFleet
{
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(10);

    public static async Task<SteadyResult?> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var profile = context.Profile;
        if (profile.SteadyProbeSizes.Count == 0 || profile.SteadyHoldDuration <= TimeSpan.Zero)
        {
            return null;
        }

        var refetched = context.Fleet.Count;
        var needed = profile.SteadyProbeSizes.Max();
        if (context.Fleet.Count < needed)
        {
            var extra = Payloads.MakeHosts(0xB5, 0, needed - context.Fleet.Count);
            context.Log($"steady fleet: enrolling {extra.Count} more hosts");
            await context.EnrollAsync(extra, 64, cancellationToken);
            context.Fleet.AddRange(extra);
        }

        var sizes = profile.SteadyProbeSizes.Where(s => s <= context.Fleet.Count).ToList();

        var probes = new List<PacedResult>();
        foreach (var size in sizes)
        {
            var probe = await PaceAsync(context, size, profile.SteadyProbeDuration, cancellationToken);
            probes.Add(probe.Result);
            if (!SteadyResult.Passes(probe.Result))
            {
                break;
            }
        }

        var passing = probes.Where(SteadyResult.Passes).Select(p => p.Hosts).ToList();
        var candidates = passing.Count > 0
            ? [passing.Max(), .. sizes.Where(s => s < passing.Max()).OrderDescending()]
            : sizes.Take(1).ToList();

        // The window must hold at one size; if the first choice fails and time allows, one size smaller is tried.
        var holds = new List<(PacedResult, CpuUse)>();
        foreach (var size in candidates.Take(2))
        {
            await WaitForOthersCollectedAsync(context, size, probes.Max(p => p.Hosts), cancellationToken);
            var hold = await PaceAsync(context, size, profile.SteadyHoldDuration, cancellationToken);
            holds.Add(hold);
            if (SteadyResult.Passes(hold.Result) || context.Elapsed > TimeSpan.FromMinutes(32))
            {
                break;
            }
        }

        return new SteadyResult(probes, holds, s_interval, refetched);
    }

    private static async Task<(PacedResult Result, CpuUse Cpu)> PaceAsync(
        BenchContext context, int size, TimeSpan duration, CancellationToken cancellationToken)
    {
        var hosts = context.Fleet.Take(size).ToList();
        await context.ActivateAsync(hosts, 64, cancellationToken);
        context.Log($"steady fleet: {size} hosts every {s_interval.TotalSeconds:0} s for {duration.TotalSeconds:0} s " +
            $"({size / s_interval.TotalSeconds:0} check-ins/s)");
        var sample = context.Cpu.Start();
        var result = await PacedLoop.RunAsync(
            size, s_interval, s_interval, duration, 2000,
            (i, ct) => context.NoOpReadAsync(hosts[i], ct),
            cancellationToken);
        var cpu = CpuMeter.Stop(sample);
        context.Log($"  p50 {result.Stats.P50:0.0} ms, p99 {result.Stats.P99:0.0} ms, {result.Stats.Errors} errors, " +
            $"{result.Stats.PerSecond:0}/s; {(SteadyResult.Passes(result) ? "holds" : "does not hold")}");

        return (result, cpu);
    }

    /// <summary>
    /// Hosts of a larger probe that are not in the hold would be collected during it (each writing its
    /// last-seen time); wait, bounded, until the silo has collected them so the hold sees only its own fleet.
    /// </summary>
    private static async Task WaitForOthersCollectedAsync(BenchContext context, int size, int probed, CancellationToken cancellationToken)
    {
        if (probed <= size)
        {
            return;
        }

        context.Log($"steady fleet: waiting for the {probed - size} hosts above {size} to be collected");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            var memory = await context.Http.MemoryAsync(collect: false, cancellationToken);
            if (memory.HostActivations <= size + (size / 50))
            {
                break;
            }

            // Keep the hold's own hosts active meanwhile, at a gentle pace.
            await context.ActivateAsync(context.Fleet.Take(size).ToList(), 8, cancellationToken);
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
        }
    }
}
