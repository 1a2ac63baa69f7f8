namespace Fleet.Bench.Scenarios;

/// <summary>Scenario 5's numbers: short probes to find the size, then the hold at that size.</summary>
internal sealed record SteadyResult(
    IReadOnlyList<PacedResult> Probes,
    IReadOnlyList<(PacedResult Result, CpuUse Cpu)> Holds,
    TimeSpan Interval,
    int FleetHosts = 0)
{
    public const double P99LimitMs = 100;

    public static bool Passes(PacedResult result) => result.Stats.P99 < P99LimitMs && result.Stats.Errors == 0;

    /// <summary>Hosts at one check-in every <see cref="Interval"/> that make the same rate as a run.</summary>
    public int Equivalent(PacedResult result) => (int)Math.Round(result.EquivalentHosts(Interval));

    /// <summary>The largest fleet (as hosts every 10 s) that held for the whole window, if any.</summary>
    public int Held => HeldRun is { } run ? Equivalent(run) : 0;

    /// <summary>The hold that passed at the largest fleet, if any.</summary>
    public PacedResult? HeldRun => Holds.Select(h => h.Result).Where(Passes).MaxBy(Equivalent);

    /// <summary>
    /// The scale scenario's hosts the probes drew on. Runs saved before it was recorded give 0; the probes that used
    /// every host tell it then.
    /// </summary>
    public int Fleet => FleetHosts > 0 ? FleetHosts : Probes.Concat(Holds.Select(h => h.Result)).Select(p => p.Hosts).DefaultIfEmpty(0).Max();
}

/// <summary>
/// Scenario 5: a steady fleet checking in (distributed/read, nothing to do), paced open-loop, from the scale
/// scenario's hosts, all active. Up to their number, a fleet of N is N of them each checking in every 10 s, and
/// their check-in leases decide which check-ins ask the host, as in a real fleet. A larger N is run as the same
/// check-in rate from all of them, each checking in every 10 s × hosts / N; each would then find its lease on
/// nearly every check-in, so one in three (a real 10 s fleet's share with the default 30 s lease) goes to the
/// endpoint that asks the host every time instead. Probes of growing N find the largest that keeps p99 under
/// 100 ms with no errors; that N must then hold for the full window.
/// </summary>
internal static class SteadyFleet
{
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(10);

    // A further hold starts only this far into the run, so the scenarios after it still fit the run's 100-minute limit.
    private static readonly TimeSpan s_lastHoldStart = TimeSpan.FromMinutes(45);

    public static async Task<SteadyResult?> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var profile = context.Profile;
        if (profile.SteadyProbeSizes.Count == 0 || profile.SteadyHoldDuration <= TimeSpan.Zero || context.Fleet.Count == 0)
        {
            return null;
        }

        var hosts = context.Fleet.ToList();
        context.Log($"steady fleet: {hosts.Count} hosts, activating them all");
        await context.ActivateAsync(hosts, 64, cancellationToken);

        var probes = new List<PacedResult>();
        foreach (var size in profile.SteadyProbeSizes)
        {
            var probe = await PaceAsync(context, hosts, size, profile.SteadyProbeDuration, cancellationToken);
            probes.Add(probe.Result);
            if (!SteadyResult.Passes(probe.Result))
            {
                break;
            }
        }

        var passing = profile.SteadyProbeSizes.Take(probes.Count).Where((_, i) => SteadyResult.Passes(probes[i])).ToList();
        List<int> candidates = passing.Count > 0
            ? [passing.Max(), .. profile.SteadyProbeSizes.Where(s => s < passing.Max()).OrderDescending()]
            : [profile.SteadyProbeSizes[0]];

        // The window must hold at one size: while the largest that passed its probe fails, each smaller probe size is
        // held in turn, for as long as the run's time allows.
        var holds = new List<(PacedResult, CpuUse)>();
        foreach (var size in candidates)
        {
            if (holds.Count > 0 && context.Elapsed > s_lastHoldStart)
            {
                context.Log($"steady fleet: no time left to hold {size} hosts ({context.Elapsed.TotalMinutes:0} min into the run)");
                break;
            }

            var hold = await PaceAsync(context, hosts, size, profile.SteadyHoldDuration, cancellationToken);
            holds.Add(hold);
            if (SteadyResult.Passes(hold.Result))
            {
                break;
            }
        }

        return new SteadyResult(probes, holds, s_interval, hosts.Count);
    }

    private static async Task<(PacedResult Result, CpuUse Cpu)> PaceAsync(
        BenchContext context, List<SimHost> hosts, int size, TimeSpan duration, CancellationToken cancellationToken)
    {
        var fleet = hosts.Count > size ? hosts.GetRange(0, size) : hosts;
        var interval = s_interval * fleet.Count / size;
        context.Log($"steady fleet: {size} hosts every {s_interval.TotalSeconds:0} s for {duration.TotalSeconds:0} s " +
            $"({size / s_interval.TotalSeconds:0} check-ins/s: {fleet.Count} hosts every {interval.TotalSeconds:0.00} s)");

        // Real hosts every 10 s meet their leases as a real fleet does. Hosts checking in more often would find theirs
        // on nearly every check-in, so a real fleet's share asks the host's grain instead: one in three with the
        // default lease.
        var askEvery = interval < s_interval ? (int)Math.Round(1 / CheckInResult.FleetAskingShare) : 0;
        var checkIns = new int[fleet.Count];
        var sample = context.Cpu.Start();
        var result = await PacedLoop.RunAsync(
            fleet.Count, interval, s_interval, duration, 2000,
            (i, ct) => askEvery > 0 && Interlocked.Increment(ref checkIns[i]) % askEvery == 1 % askEvery
                ? context.AskingReadProblemAsync(fleet[i], ct)
                : context.NoOpReadProblemAsync(fleet[i], ct),
            cancellationToken);
        var cpu = CpuMeter.Stop(sample);
        context.Log($"  p50 {result.Stats.P50:0.0} ms, p99 {result.Stats.P99:0.0} ms, {result.Stats.Errors} errors, " +
            $"{result.Stats.PerSecond:0}/s; {(SteadyResult.Passes(result) ? "holds" : "does not hold")}");
        foreach (var error in result.ErrorKinds ?? [])
        {
            context.Log($"    {error.Count} × {error.Kind} (first: {error.First})");
        }

        return (result, cpu);
    }
}
