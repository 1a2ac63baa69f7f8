using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Fleet.Bench.Scenarios;

/// <summary>One fleet size of scenario 3.</summary>
internal sealed record ScalePoint(
    int Hosts,
    LoadStats Populate,
    MemorySnapshot Fresh,
    MemorySnapshot Warm,
    LoadStats Activate,
    CpuUse ActivateCpu,
    MemorySnapshot Active,
    MemorySnapshot? WarmReleased = null,
    MemorySnapshot? HalfReleased = null,
    MemorySnapshot? ActiveReleased = null)
{
    /// <summary>
    /// Host activations the measurement covers: those the silo reported, since on a slow storage the first hosts
    /// activated may already have been collected by the time the last one is.
    /// </summary>
    public long ActiveHosts => Math.Max(1, Active.HostActivations - Warm.HostActivations);

    /// <summary>Silo working-set growth per active host, over a restarted silo whose index shards are loaded.</summary>
    public double WorkingSetPerHost => PerActiveHost(m => m.WorkingSet);

    public double HeapPerHost => PerActiveHost(m => m.ManagedHeap);

    /// <summary>
    /// The GC's heap (<see cref="MemorySnapshot.GcHeapSize"/>, live objects and the gaps between them) per host: with
    /// <see cref="GcFreePerHost"/> and <see cref="OutsideGcPerHost"/> it adds up to <see cref="WorkingSetPerHost"/>.
    /// </summary>
    public double GcHeapPerHost => PerActiveHost(m => m.GcHeapSize);

    /// <summary>The part of <see cref="WorkingSetPerHost"/> that is free memory the GC kept committed after the activations.</summary>
    public double GcFreePerHost => PerActiveHost(m => m.GcFree);

    /// <summary>
    /// The rest of <see cref="WorkingSetPerHost"/>: the working set minus the GC's committed memory. Approximate: committed
    /// memory never touched is not in the working set, so this shows less than lies outside the GC.
    /// </summary>
    public double OutsideGcPerHost => PerActiveHost(m => m.OutsideGc);

    /// <summary>
    /// Working-set growth per active host when both ends are read after an aggressive GC, which returns the GC's free
    /// memory to the operating system: what the hosts hold, without what the busy spell of activating them left committed.
    /// </summary>
    public double? ReleasedWorkingSetPerHost => GrowthPerHost(WarmReleased, ActiveReleased, m => m.WorkingSet);

    /// <summary>
    /// Working-set growth per host over the second half of the activations, both ends read after the GC returned its
    /// free memory: the cost of one more active host, without what the silo pays once whatever the number of hosts.
    /// </summary>
    public double? WorkingSetPerAddedHost => GrowthPerHost(HalfReleased, ActiveReleased, m => m.WorkingSet);

    /// <summary>Managed-heap growth per host over the second half of the activations.</summary>
    public double? HeapPerAddedHost => GrowthPerHost(HalfReleased, ActiveReleased, m => m.ManagedHeap);

    // Growth of one measure from the warm to the all-active silo (both after a forced GC), per active host.
    private double PerActiveHost(Func<MemorySnapshot, long> measure) => (measure(Active) - measure(Warm)) / (double)ActiveHosts;

    // Growth of one measure between two readings, per host activated between them; null without both or without hosts.
    private static double? GrowthPerHost(MemorySnapshot? from, MemorySnapshot? to, Func<MemorySnapshot, long> measure) =>
        from is not null && to is not null && to.HostActivations > from.HostActivations
            ? (measure(to) - measure(from)) / (double)(to.HostActivations - from.HostActivations)
            : null;

    public double ActivationsPerSecond => Activate.PerSecond;
}

/// <summary>Scenario 3's numbers: the curve across sizes, then idle collection at the largest.</summary>
internal sealed record ScaleResult(
    IReadOnlyList<ScalePoint> Points,
    TimeSpan IdleWait,
    MemorySnapshot? AfterIdle,
    StorageCounts? IdleWrites,
    int EnrolledTotal,
    CpuUse PopulateCpu,
    FlushCounts? IdleFlushes = null);

/// <summary>
/// Scenario 3: every host a real grain with real state (enrolled, one completed refetch). At each size the
/// silo is restarted (killed, so no grain is written on the way down) and every host is activated by one
/// check-in: the time that takes, and the memory it costs, measured after a full GC. At the largest size the
/// hosts are then left idle until the silo collects them.
/// </summary>
internal static class ScaleMemory
{
    private const int Concurrency = 32;

    // Hosts per population request, and in flight at once inside the silo: Azurite, not the silo, sets the pace.
    // Small enough that a batch finishes well inside the silo client's two-minute timeout at a few hosts a second
    // (a batch of 1,000 timed out while the machine was busy).
    private const int PopulateBatch = 200;
    private const int SiloConcurrency = 32;

    /// <summary>
    /// Populates and measures every size. The largest size's hosts are left active for the steady fleet; call
    /// <see cref="IdleAsync"/> afterwards for the memory after idle collection.
    /// </summary>
    public static async Task<ScaleResult?> RunAsync(BenchContext context, IReadOnlyList<SimHost> warmUpHosts, CancellationToken cancellationToken)
    {
        var sizes = context.Profile.ScaleSizes;
        if (sizes.Count == 0)
        {
            return null;
        }

        var points = new List<ScalePoint>();
        CpuUse? cpu = null;
        foreach (var size in sizes)
        {
            var added = Payloads.MakeHosts(0xB3, context.Fleet.Count, size - context.Fleet.Count);
            context.Log($"scale: enrolling and refetching {added.Count} hosts (to {size})");
            var sample = context.Cpu.Start();
            var populate = ThroughApi ? await PopulateThroughApiAsync(context, added, cancellationToken) : await PopulateInSiloAsync(context, added, cancellationToken);
            cpu = CpuMeter.Stop(sample);
            context.Fleet.AddRange(added);
            context.Log($"  populated in {populate.Elapsed.TotalSeconds:0} s, {populate.PerSecond:0} hosts/s ({populate.Errors} failed)");

            points.Add(await MeasureAsync(context, size, populate, warmUpHosts, cancellationToken));
        }

        return new ScaleResult(points, TimeSpan.Zero, null, null, context.Fleet.Count, cpu!);
    }

    /// <summary>
    /// <c>FLEET_BENCH_POPULATE=api</c> populates through the Api (enroll, refetch, read, write: four HTTP requests per
    /// host) instead of the silo's benchmark endpoint, as the harness did before it had one.
    /// </summary>
    public static bool ThroughApi => Environment.GetEnvironmentVariable("FLEET_BENCH_POPULATE") == "api";

    private static async Task<LoadStats> PopulateThroughApiAsync(BenchContext context, List<SimHost> hosts, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var enroll = await context.EnrollAsync(hosts, Concurrency, cancellationToken);
        var cycles = await context.CycleAllAsync("populate", hosts, Concurrency, cancellationToken);

        return new LoadStats(
            "enroll + refetch cycle through the Api", cycles.Ok, enroll.Errors + cycles.Errors, clock.Elapsed,
            cycles.P50, cycles.P90, cycles.P99, cycles.Max);
    }

    /// <summary>
    /// Batches of hosts through the silo's <c>POST /debug/hosts/populate</c>, which calls each host's grain as the Api
    /// would (enroll, refetch, read, write of the real results) with <see cref="SiloConcurrency"/> hosts in flight.
    /// Latencies are per batch. Hosts that did not end verified are dropped; more than 2 % stops the scenario.
    /// </summary>
    private static async Task<LoadStats> PopulateInSiloAsync(BenchContext context, List<SimHost> hosts, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var batches = new List<float>();
        foreach (var batch in hosts.Chunk(PopulateBatch))
        {
            var started = clock.Elapsed;
            var entries = new JsonArray([.. batch.Select(h => (JsonNode)context.Payloads.PopulateEntry(h))]);
            var nodeKeys = await context.Http.PopulateAsync(entries, SiloConcurrency, cancellationToken);
            foreach (var host in batch)
            {
                if (nodeKeys.TryGetValue(host.Uuid, out var nodeKey))
                {
                    host.Enrolled(nodeKey);
                }
            }

            batches.Add((float)(clock.Elapsed - started).TotalMilliseconds);
        }

        var failed = hosts.RemoveAll(h => h.NodeKey is null);
        if (failed > (hosts.Count + failed) / 50)
        {
            throw new InvalidOperationException($"{failed} hosts did not end verified through the silo's population; see {context.Product.Silo!.LogPath}");
        }

        context.Enrolled.AddRange(hosts);

        return LoadStats.From($"enroll + refetch cycle in the silo, batches of {PopulateBatch}", failed, clock.Elapsed, batches) with { Ok = hosts.Count };
    }

    private static async Task<ScalePoint> MeasureAsync(
        BenchContext context, int size, LoadStats populate, IReadOnlyList<SimHost> warmUpHosts, CancellationToken cancellationToken)
    {
        await context.Product.RestartSiloAsync(crash: true, cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken);
        var fresh = await context.Http.MemoryAsync(collect: true, cancellationToken);

        // A few other hosts load the code paths and the index shards, so what follows is the hosts' own cost.
        await context.ActivateQuietlyAsync(warmUpHosts.Take(100).ToList(), 8, cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var warm = await context.Http.MemoryAsync(collect: true, cancellationToken);
        await HeapDumpAsync(context, $"warm-{size}", cancellationToken);
        var warmReleased = await context.Http.MemoryAsync(collect: true, cancellationToken, release: true);

        // In two halves, with a reading between them after the GC returned its free memory: the second half's growth is
        // what one more active host costs a silo that has already paid its one-off costs (code compiled for the load,
        // the catalog's and directory's tables). The pause of that collection falls inside the CPU sample; it is a few
        // hundred milliseconds of a phase of tens of seconds.
        var sample = context.Cpu.Start();
        var firstHalf = await context.ActivateQuietlyAsync(context.Fleet.Take(size / 2).ToList(), Concurrency, cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var halfReleased = await context.Http.MemoryAsync(collect: true, cancellationToken, release: true);
        var secondHalf = await context.ActivateQuietlyAsync(context.Fleet.Skip(size / 2).Take(size - (size / 2)).ToList(), Concurrency, cancellationToken);
        var cpu = CpuMeter.Stop(sample);
        var activate = LoadStats.Combine(firstHalf, secondHalf);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var active = await context.Http.MemoryAsync(collect: true, cancellationToken);
        await HeapDumpAsync(context, $"active-{size}", cancellationToken);
        var activeReleased = await context.Http.MemoryAsync(collect: true, cancellationToken, release: true);
        var point = new ScalePoint(size, populate, fresh, warm, activate, cpu, active, warmReleased, halfReleased, activeReleased);
        context.Log($"  {size} active: activated in {activate.Elapsed.TotalSeconds:0.0} s, " +
            $"{point.WorkingSetPerHost:0} B working set ({point.GcFreePerHost:0} B of it GC free space, {point.OutsideGcPerHost:0} B the rest) " +
            $"and {point.HeapPerHost:0} B heap per host, {point.ReleasedWorkingSetPerHost:0} B working set after the GC released its free memory, " +
            $"{point.WorkingSetPerAddedHost:0} B working set and {point.HeapPerAddedHost:0} B heap per host of the second half, " +
            $"{point.ActiveHosts} of {size} hosts active when measured");

        return point;
    }

    /// <summary>
    /// With <c>FLEET_BENCH_GCDUMP</c> set to a <c>dotnet-gcdump</c> executable, saves the silo's heap as
    /// <c>silo-NAME.gcdump</c> and its type report as <c>silo-NAME.txt</c> in the run's folder, to see where an
    /// active host's memory goes (compare the warm and active dumps of a size). Off otherwise: a dump pauses the silo.
    /// </summary>
    private static async Task HeapDumpAsync(BenchContext context, string name, CancellationToken cancellationToken)
    {
        if (Environment.GetEnvironmentVariable("FLEET_BENCH_GCDUMP") is not { Length: > 0 } tool || context.Product.Silo is not { } silo)
        {
            return;
        }

        var dump = Path.Combine(context.Options.ResultsDir, $"silo-{name}.gcdump");
        await RunToolAsync(tool, ["collect", "-p", silo.Pid.ToString(CultureInfo.InvariantCulture), "-o", dump], null, cancellationToken);
        await RunToolAsync(tool, ["report", dump], Path.ChangeExtension(dump, ".txt"), cancellationToken);
        context.Log($"  heap dump: {Path.GetFileName(dump)}");
    }

    private static async Task RunToolAsync(string tool, string[] arguments, string? output, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {tool}");
        var text = await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (output is not null)
        {
            await File.WriteAllTextAsync(output, text, cancellationToken);
        }
    }

    /// <summary>Leaves every host idle until the silo has collected them (or the wait runs out).</summary>
    public static async Task<ScaleResult> IdleAsync(BenchContext context, ScaleResult result, CancellationToken cancellationToken)
    {
        var size = result.Points[^1].Hosts;
        context.Log($"scale: waiting up to {context.Profile.IdleCollectionWait.TotalMinutes:0.#} min for idle hosts to be collected");
        var before = await context.Http.StorageWritesAsync(cancellationToken);
        var flushesBefore = await context.Http.LastSeenFlushesAsync(cancellationToken);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < context.Profile.IdleCollectionWait)
        {
            await Task.Delay(TimeSpan.FromSeconds(10), cancellationToken);
            var now = await context.Http.MemoryAsync(collect: false, cancellationToken);
            if (IdleCollectionDone(now, size))
            {
                break;
            }
        }

        // Let the last deactivation flushes reach Azurite before reading the counters.
        await context.WaitForStorageQuietAsync(TimeSpan.FromMinutes(3), cancellationToken);
        var after = await context.Http.MemoryAsync(collect: true, cancellationToken);
        var writes = await context.Http.StorageWritesAsync(cancellationToken) - before;
        var flushes = await context.Http.LastSeenFlushesAsync(cancellationToken) - flushesBefore;
        context.Log($"  after {clock.Elapsed.TotalSeconds:0} s idle: {after.HostActivations} host activations, " +
            $"working set {after.WorkingSet / 1048576.0:0} MiB, {writes.GrainState} grain-state writes while collecting; " +
            $"last-seen flushes: {flushes.Stored} stored, {flushes.Failed} failed, {flushes.Skipped} skipped");

        return result with { IdleWait = clock.Elapsed, AfterIdle = after, IdleWrites = writes, IdleFlushes = flushes };
    }

    /// <summary>Whether idle collection has taken (nearly) all of <paramref name="hosts"/> activated hosts: fewer than 1 % left.</summary>
    public static bool IdleCollectionDone(MemorySnapshot reading, int hosts) => reading.HostActivations < hosts / 100;
}
