namespace Fleet.Bench.Scenarios;

/// <summary>Scenario 1's numbers. Baseline and real phases alternate twice; rates are the medians of the two.</summary>
internal sealed record CheckInResult(
    int Hosts,
    int Concurrency,
    IReadOnlyList<LoadStats> BaselineReads,
    IReadOnlyList<LoadStats> Reads,
    LoadStats BaselineWrite,
    LoadStats Write,
    StorageCounts ReadPhaseWrites,
    StorageCounts WritePhaseWrites,
    CpuUse BaselineCpu,
    CpuUse ReadCpu,
    CpuUse WriteCpu,
    IReadOnlyList<LoadStats>? FloorReads = null,
    CpuUse? FloorCpu = null,
    IReadOnlyList<LoadStats>? AskingReads = null,
    CpuUse? AskingCpu = null,
    long LeaseAnswers = 0)
{
    /// <summary>Agents' check-in interval and the silo's default lease, for the projection to a real fleet.</summary>
    public static readonly TimeSpan FleetInterval = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultLease = TimeSpan.FromSeconds(30);

    public double BaselineRate => Median(BaselineReads.Select(s => s.PerSecond));

    public double ReadRate => Median(Reads.Select(s => s.PerSecond));

    public double ReadRatio => ReadRate / BaselineRate;

    /// <summary>The bare endpoint plus one call to a grain that does nothing: the most a check-in that asks a grain can reach.</summary>
    public double FloorRate => FloorReads is { Count: > 0 } floor ? Median(floor.Select(s => s.PerSecond)) : double.NaN;

    public double FloorRatio => FloorRate / BaselineRate;

    public double WriteRatio => Write.PerSecond / BaselineWrite.PerSecond;

    /// <summary>distributed/read asking the host every time (no lease): the check-in before leases.</summary>
    public double AskingRate => AskingReads is { Count: > 0 } asking ? Median(asking.Select(s => s.PerSecond)) : double.NaN;

    public double AskingRatio => AskingRate / BaselineRate;

    /// <summary>The share of the measured reads the Api answered under a lease.</summary>
    public double LeaseShare => LeaseAnswers / (double)Math.Max(1, Reads.Sum(s => s.Ok));

    /// <summary>
    /// The share of a real fleet's check-ins that ask the host: a lease counted from the asking check-in covers
    /// the check-ins after it up to the one that falls on its end, so one in <c>ceil(lease / interval)</c> asks.
    /// </summary>
    public static double AskingShare(TimeSpan lease) => lease <= TimeSpan.Zero ? 1 : 1 / Math.Ceiling(lease / FleetInterval);

    public static double FleetAskingShare => AskingShare(DefaultLease);

    /// <summary>The rate of a mix of asking and leased check-ins in a real fleet's proportions, from this run's rates.</summary>
    public double ProjectedRate(TimeSpan lease) => 1 / ((AskingShare(lease) / AskingRate) + ((1 - AskingShare(lease)) / ReadRate));

    public double ProjectedFleetRate => ProjectedRate(DefaultLease);

    public double ProjectedFleetRatio => ProjectedFleetRate / BaselineRate;

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();

        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

/// <summary>
/// Scenario 1: agent check-ins with nothing to do, against a bare endpoint of the same shape in the same
/// Api process, and against that endpoint making one call to a grain that does nothing (the Orleans floor).
/// <c>distributed/read</c> with no refetch in flight, both as agents get it (mostly under the host's lease) and
/// asking the host every time (as before leases), then <c>distributed/write</c> with a real payload that
/// repeats what the host already reported. Storage writes are counted across both.
/// </summary>
internal static class CheckInThroughput
{
    private const string BaselinePath = "bench/baseline/distributed/read";
    private const string FloorPath = "bench/baseline/grain-call/distributed/read";
    private const string AskingPath = "bench/baseline/asking/distributed/read";
    private const string ReadPath = "api/osquery/distributed/read";
    private const string WritePath = "api/osquery/distributed/write";

    // A phase is bounded by its duration and, as a backstop, by this many requests.
    private const long PhaseCap = 2_000_000;

    public static async Task<CheckInResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var profile = context.Profile;
        var http = context.Http;
        var hosts = Payloads.MakeHosts(0xB1, 0, profile.CheckInHosts);
        context.Log($"check-in throughput: enrolling {hosts.Count} hosts");
        await context.EnrollAsync(hosts, profile.Concurrency, cancellationToken);

        // Warm up the three paths (JIT, connections, activations), then let the index shards flush the enrollments.
        await Phase(context, BaselinePath, hosts, TimeSpan.FromSeconds(2), cancellationToken);
        await Phase(context, FloorPath, hosts, TimeSpan.FromSeconds(2), cancellationToken);
        await Phase(context, AskingPath, hosts, TimeSpan.FromSeconds(2), cancellationToken);
        await Phase(context, ReadPath, hosts, TimeSpan.FromSeconds(2), cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken);

        var baselines = new List<LoadStats>();
        var floors = new List<LoadStats>();
        var asking = new List<LoadStats>();
        var reads = new List<LoadStats>();
        CpuUse? baselineCpu = null;
        CpuUse? floorCpu = null;
        CpuUse? askingCpu = null;
        CpuUse? readCpu = null;
        var before = await http.StorageWritesAsync(cancellationToken);
        long leaseAnswers = 0;
        for (var round = 0; round < 2; round++)
        {
            var sample = context.Cpu.Start();
            baselines.Add(await Phase(context, BaselinePath, hosts, profile.PhaseDuration, cancellationToken));
            baselineCpu = CpuMeter.Stop(sample);
            sample = context.Cpu.Start();
            floors.Add(await Phase(context, FloorPath, hosts, profile.PhaseDuration, cancellationToken));
            floorCpu = CpuMeter.Stop(sample);
            sample = context.Cpu.Start();
            asking.Add(await Phase(context, AskingPath, hosts, profile.PhaseDuration, cancellationToken));
            askingCpu = CpuMeter.Stop(sample);
            var answeredBefore = await http.LeaseAnswersAsync(cancellationToken);
            sample = context.Cpu.Start();
            reads.Add(await Phase(context, ReadPath, hosts, profile.PhaseDuration, cancellationToken));
            readCpu = CpuMeter.Stop(sample);
            leaseAnswers += await http.LeaseAnswersAsync(cancellationToken) - answeredBefore;
            context.Log($"  round {round + 1}: baseline {baselines[^1].PerSecond:0}/s, " +
                $"baseline with a no-op grain call {floors[^1].PerSecond:0}/s, asking the host {asking[^1].PerSecond:0}/s, " +
                $"distributed/read {reads[^1].PerSecond:0}/s");
        }

        // Anything a check-in wrote reaches the index within its one-second flush.
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var readWrites = await http.StorageWritesAsync(cancellationToken) - before;
        context.Invariants.Add(new InvariantCheck(
            "no storage writes during no-op check-ins",
            readWrites.StateAndReminder + readWrites.Index == 0,
            $"grain state {readWrites.GrainState}, reminder {readWrites.Reminder}, index {readWrites.Index} " +
            $"across {reads.Sum(r => r.Ok) + asking.Sum(r => r.Ok)} distributed/read check-ins"));

        var (baselineWrite, write, writeWrites, writeCpu) = await WritesAsync(context, hosts, cancellationToken);
        context.Log($"  distributed/write {write.PerSecond:0}/s (same-body baseline {baselineWrite.PerSecond:0}/s)");

        return new CheckInResult(
            hosts.Count, profile.Concurrency, baselines, reads, baselineWrite, write, readWrites, writeWrites,
            baselineCpu!, readCpu!, writeCpu, floors, floorCpu, asking, askingCpu, leaseAnswers);
    }

    /// <summary>
    /// Every host first writes its real results once (the first write stores the vitals); the measured
    /// phase then repeats them, which changes nothing. The baseline posts the same bodies to the bare endpoint.
    /// </summary>
    private static async Task<(LoadStats Baseline, LoadStats Write, StorageCounts Writes, CpuUse Cpu)> WritesAsync(
        BenchContext context, List<SimHost> hosts, CancellationToken cancellationToken)
    {
        var bodies = hosts.Select(context.Payloads.WriteBody).ToArray();
        var http = context.Http;
        await ClosedLoop.RunAsync(
            "first write", context.Profile.Concurrency, TimeSpan.FromMinutes(2), hosts.Count,
            async (i, ct) => (await http.PostAgentAsync(WritePath, bodies[i], ct)).Status == 200,
            cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);

        var baseline = await ClosedLoop.RunAsync(
            "baseline (write body)", context.Profile.Concurrency, context.Profile.PhaseDuration, PhaseCap,
            async (i, ct) => (await http.PostAgentAsync(BaselinePath, bodies[i % bodies.Length], ct)).Status == 200,
            cancellationToken);
        var before = await http.StorageWritesAsync(cancellationToken);
        var sample = context.Cpu.Start();
        var write = await ClosedLoop.RunAsync(
            "distributed/write", context.Profile.Concurrency, context.Profile.PhaseDuration, PhaseCap,
            async (i, ct) => (await http.PostAgentAsync(WritePath, bodies[i % bodies.Length], ct)).Status == 200,
            cancellationToken);
        var cpu = CpuMeter.Stop(sample);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);

        return (baseline, write, await http.StorageWritesAsync(cancellationToken) - before, cpu);
    }

    private static Task<LoadStats> Phase(
        BenchContext context, string path, List<SimHost> hosts, TimeSpan duration, CancellationToken cancellationToken) =>
        ClosedLoop.RunAsync(
            path,
            context.Profile.Concurrency,
            duration,
            PhaseCap,
            (i, ct) => context.Http.NoOpReadAsync(path, hosts[(int)(i % hosts.Count)], ct),
            cancellationToken);
}
