using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fleet.Bench.Scenarios;
using static System.FormattableString;

namespace Fleet.Bench.Report;

/// <summary>
/// Writes the run as Markdown: the run's facts, the targets with verdicts, then one section per scenario
/// with its table, chart and what limited it, in numbers the run measured.
/// </summary>
internal static class MarkdownReport
{
    private const double KiB = 1024;
    private const double MiB = 1024 * 1024;

    // Fleet's published reference: ~150,000 hosts on 20 tasks of one vCPU each, ~750 check-ins/s per vCPU.
    private const double FleetHostsPerVcpu = 150_000 / 20.0;
    private const double FleetCheckInsPerVcpu = 750;

    // Leases other than the default that the check-in section projects a fleet's mix for.
    private static readonly TimeSpan[] s_otherLeases = [TimeSpan.FromSeconds(45), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120)];

    public static string Write(RunReport report, string chartFolder, string chartLink)
    {
        var md = new StringBuilder();
        Header(md, report);
        Targets(md, report);
        Invariants(md, report);
        if (report.CheckIns is { } checkIns)
        {
            CheckInSection(md, checkIns, report, Chart(Charts.CheckIns(chartFolder, checkIns), chartLink));
        }

        if (report.Cycles is { } cycles)
        {
            CycleSection(md, cycles, report, Chart(Charts.Cycles(chartFolder, cycles), chartLink));
        }

        if (report.Scale is { } scale)
        {
            ScaleSection(md, scale, report, Chart(Charts.ScaleMemory(chartFolder, scale), chartLink));
        }

        if (report.Deadlines.Count > 0)
        {
            var charts = report.Deadlines.Select((d, i) => Chart(Charts.Deadline(chartFolder, d, $"deadline-{i + 1}.png"), chartLink)).ToList();
            DeadlineSection(md, report, charts);
        }

        if (report.Steady is { } steady)
        {
            var charts = new List<string> { Chart(Charts.SteadyProbes(chartFolder, steady), chartLink) };
            if (steady.Holds.Count > 0)
            {
                charts.Add(Chart(Charts.SteadyHold(chartFolder, steady, steady.Holds[^1].Result), chartLink));
            }

            SteadySection(md, steady, report, charts);
        }

        md.AppendLine(Invariant($"\n## Fleet scale\n\nHost queries over 100,000 hosts and bulk refetch jobs: [{FleetReport.DocsFile}]({FleetReport.DocsFile}) (`bench/run --only fleet-queries,jobs` rewrites just those).\n"));
        foreach (var (scenario, failure) in report.Failures)
        {
            // The first line only, with paths relative to the repository: the run's folder keeps the logs.
            var message = Regex.Replace(failure.Split('\n')[0].TrimEnd(), @"\S*/bench/results/", "bench/results/");
            md.AppendLine(Invariant($"\n## {scenario}: did not finish\n\n```\n{message}\n```"));
        }

        return md.ToString();
    }

    private static void Header(StringBuilder md, RunReport r)
    {
        var m = r.Machine;
        md.AppendLine("# Fleet.Orleans benchmarks");
        md.AppendLine();
        md.AppendLine("Written by `bench/run` from one run; rerun it rather than editing this file. " +
            "How to run the harness and read this report: [bench/README.md](../bench/README.md).");
        md.AppendLine();
        md.AppendLine("## The run");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        md.AppendLine(Invariant($"| commit | `{r.Options.Commit}` |"));
        md.AppendLine(Invariant($"| started | {r.StartedAt:yyyy-MM-dd HH:mm} UTC, took {r.Duration.TotalMinutes:0.0} min ({r.Options.Profile.Name} mode) |"));
        md.AppendLine(Invariant($"| machine | {m.Cores} cores ({m.CpuModel}), {m.MemoryBytes / (1024.0 * MiB):0.0} GiB memory, {m.Os}, {m.Runtime} |"));
        md.AppendLine(Invariant($"| load average (1, 5, 15 min) | {r.LoadAtStart} at the start, {r.LoadAtEnd} at the end; per scenario below |"));
        md.AppendLine("| processes | Azurite (table storage), one silo, one Api, the load generator: all on these cores, on 127.0.0.1 |");
        md.AppendLine("| load generator | .NET `SocketsHttpHandler`, request bodies made beforehand from the real osquery payloads (`test/payloads/osquery-perf/rendered/`) |");
        foreach (var (key, value) in r.Settings)
        {
            md.AppendLine(Invariant($"| `{key}` | {value} |"));
        }

        md.AppendLine();
        md.AppendLine("CPU figures are cores busy during a phase, read from `/proc`: per process of this run, and \"other work\" " +
            "for whatever else the shared machine was running at the time.");
        md.AppendLine();
    }

    private static void Targets(StringBuilder md, RunReport r)
    {
        md.AppendLine("## Targets");
        md.AppendLine();
        md.AppendLine("| # | target | measured | verdict |");
        md.AppendLine("|---|---|---|---|");
        if (r.CheckIns is { } c)
        {
            md.AppendLine(Invariant($"| 1 | no-op check-in ≥ 0.75 of the bare rate | {c.ReadRatio:0.00} ({c.ReadRate:N0}/s against {c.BaselineRate:N0}/s; {c.LeaseShare:P1} of these check-ins answered under the host's lease) | {AtLeast(c.ReadRatio, 0.75, "0.00")} |"));
            if (c.AskingReads is { Count: > 0 })
            {
                md.AppendLine(Invariant($"| 1 | the same at a real fleet's cadence ({CheckInResult.FleetInterval.TotalSeconds:0} s interval, {CheckInResult.DefaultLease.TotalSeconds:0} s lease: one check-in in {1 / CheckInResult.FleetAskingShare:0} asks the host), projected from this run's rates | {c.ProjectedFleetRatio:0.00} ({c.ProjectedFleetRate:N0}/s; asking every time: {c.AskingRatio:0.00}) | {AtLeast(c.ProjectedFleetRatio, 0.75, "0.00")} |"));
            }
            var writes = c.ReadPhaseWrites.StateAndReminder + c.ReadPhaseWrites.Index;
            md.AppendLine(Invariant($"| 1 | zero storage writes for a no-op check-in | {writes} writes over {c.Reads.Sum(s => s.Ok):N0} check-ins | {(writes == 0 ? "**met**" : Invariant($"**missed** by {writes} writes"))} |"));
        }

        if (r.Cycles is { } cy)
        {
            md.AppendLine(Invariant($"| 2 | ≤ 3 storage writes per full refetch cycle | {cy.WritesPerCycle:0.000} ({cy.StateWritesPerCycle:0.000} grain state + {cy.ReminderWritesPerCycle:0.000} reminder + {cy.IndexWritesPerCycle:0.000} index batches) | {AtMost(cy.WritesPerCycle, 3, "0.000")} |"));
        }

        if (r.Scale is { Points.Count: > 0 } s)
        {
            var largest = s.Points[^1];
            var added = largest.WorkingSetPerAddedHost is { } perAdded
                ? Invariant($"; {perAdded / KiB:0.0} KiB working set per host of the second half activated")
                : string.Empty;
            var released = largest.ReleasedWorkingSetPerHost is { } perReleased
                ? Invariant($"; {perReleased / KiB:0.0} KiB working set once the GC returns its free memory")
                : string.Empty;
            // The verdict is on the average, one-off costs included; the cost of one more host is judged beside it, not instead.
            var marginal = largest.WorkingSetPerAddedHost is { } perAddedHost
                ? Invariant($"; one more host on a warm silo (second half's working set): {AtMost(perAddedHost / KiB, 4, "0.0", " KiB")}")
                : string.Empty;
            md.AppendLine(Invariant($"| 3 | ≤ 4 KB silo memory per idle active host (judged as 4 KiB, 4,096 B) | {largest.WorkingSetPerHost / KiB:0.0} KiB working set, {largest.HeapPerHost / KiB:0.0} KiB managed heap per host at {largest.Hosts:N0}{added}{released} (see 3) | working set (what the machine pays): {AtMost(largest.WorkingSetPerHost / KiB, 4, "0.0", " KiB")}; managed heap (live objects): {AtMost(largest.HeapPerHost / KiB, 4, "0.0", " KiB")}{marginal} |"));
        }

        if (r.Deadlines.Count > 0)
        {
            var d = r.Deadlines[0];
            var verdict = d.Missing > 0
                ? Invariant($"**missed**: {d.Missing} hosts never failed ({Describe(d.MissingByStatus)})")
                : AtMost(d.P99 / 1000, 1, "0.000", " s");
            var unmeasured = d.Hosts - d.Accepted;
            var scope = unmeasured > 0
                ? Invariant($" ({d.Accepted:N0} of the {d.Hosts:N0} refetches asked were accepted within the {d.RequestWindow.TotalSeconds:0} s send window; see 4)")
                : string.Empty;
            var partial = unmeasured > 0 ? Invariant($" for those; the other {unmeasured:N0} were not measured") : string.Empty;
            md.AppendLine(Invariant($"| 4 | p99 (Failed − deadline) ≤ 1 s without restart | {d.P99 / 1000:0.000} s over {d.LatenessMs.Count:N0} hosts{scope} | {verdict}{partial} |"));
        }

        if (r.Steady is { } st)
        {
            var held = st.Held;
            var tried = st.Holds.Count > 0 ? string.Join(", ", st.Holds.Select(h => st.Equivalent(h.Result).ToString("N0", CultureInfo.InvariantCulture))) : "0";
            var measured = st.HeldRun is { } run
                ? Invariant($"{held:N0} hosts held for {run.Measured.TotalMinutes:0} min ") + (run.Interval >= st.Interval
                    ? Invariant($"({run.Hosts:N0} real hosts, each every {run.Interval.TotalSeconds:0} s)")
                    : Invariant($"(as their check-in rate, {held / st.Interval.TotalSeconds:N0}/s, from {run.Hosts:N0} real hosts)"))
                : Invariant($"no size held (tried {tried})");
            md.AppendLine(Invariant($"| 5 | steady fleet ≥ 50,000 hosts at 10 s | {measured} | {AtLeast(held, 50_000, "N0", " hosts")} |"));
        }

        md.AppendLine();
    }

    private static void Invariants(StringBuilder md, RunReport r)
    {
        md.AppendLine("Invariants the short mode (CI) fails on:");
        md.AppendLine();
        foreach (var check in r.Invariants)
        {
            md.AppendLine(Invariant($"- {(check.Passed ? "✅" : "❌")} {check.Name}: {check.Detail}"));
        }

        md.AppendLine();
    }

    private static void CheckInSection(StringBuilder md, CheckInResult c, RunReport r, string chart)
    {
        md.AppendLine("## 1. Agent check-in throughput");
        md.AppendLine();
        md.AppendLine(Invariant($"{c.Hosts:N0} enrolled hosts, {c.Concurrency} concurrent requests (closed loop), {r.Options.Profile.PhaseDuration.TotalSeconds:0} s per phase. ") +
            "The bare endpoint (`POST /bench/baseline/distributed/read`, same Api process) parses the same body and answers the same " +
            "`{\"queries\":{}}` without calling a grain. The floor (`POST /bench/baseline/grain-call/distributed/read`) is the bare endpoint " +
            "making one Orleans call, with the node secret, to a grain keyed by the host that does nothing: what any design that asks a grain " +
            "on every check-in pays at least. The real `distributed/read` is answered by the Api under the host's check-in lease once one read " +
            "reached the host (each host here checks in many times a second, so nearly every read is); \"asking the host\" " +
            "(`POST /bench/baseline/asking/distributed/read`) is the same check-in asking the host every time, as before leases. " +
            "Bare, floor, asking and real phases alternate twice and each rate is the median. " +
            "The write phase repeats each host's real `distributed/write` (about 4 KB) after a first write stored it, so nothing changes; " +
            "its baseline posts the same bodies to the bare endpoint (same JSON parse, no grain call).");
        md.AppendLine(Invariant($"Load average at the start: {r.LoadByScenario.GetValueOrDefault("check-in throughput", "?")}."));
        md.AppendLine();
        md.AppendLine("| phase | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        for (var i = 0; i < c.Reads.Count; i++)
        {
            Row(md, Invariant($"bare read, round {i + 1}"), c.BaselineReads[i]);
            if (c.FloorReads is { } floors && i < floors.Count)
            {
                Row(md, Invariant($"floor: bare + no-op grain call, round {i + 1}"), floors[i]);
            }

            if (c.AskingReads is { } asking && i < asking.Count)
            {
                Row(md, Invariant($"distributed/read asking the host, round {i + 1}"), asking[i]);
            }

            Row(md, Invariant($"distributed/read, round {i + 1}"), c.Reads[i]);
        }

        Row(md, "bare, write body", c.BaselineWrite);
        Row(md, "distributed/write (no change)", c.Write);
        md.AppendLine();
        md.AppendLine(Invariant($"Ratio to bare: read **{c.ReadRatio:0.00}** ({c.LeaseShare:P1} under a lease), write **{c.WriteRatio:0.00}**") +
            (c.FloorReads is { Count: > 0 } ? Invariant($"; the floor (one no-op grain call) **{c.FloorRatio:0.00}**") : string.Empty) +
            (c.AskingReads is { Count: > 0 } ? Invariant($"; the read asking the host every time **{c.AskingRatio:0.00}**. ") +
                Invariant($"In a fleet checking in every {CheckInResult.FleetInterval.TotalSeconds:0} s with the default {CheckInResult.DefaultLease.TotalSeconds:0} s lease, one check-in in {1 / CheckInResult.FleetAskingShare:0} asks the host; ") +
                Invariant($"that mix, at this run's asking and leased rates, projects to **{c.ProjectedFleetRatio:0.00}** of the bare rate ") +
                "(with a lease of " + string.Join(", ", s_otherLeases.Select(lease =>
                    Invariant($"{lease.TotalSeconds:0} s, {c.ProjectedRate(lease) / c.BaselineRate:0.00}"))) +
                "; a longer lease lets last-seen times lag further). " : ". ") +
            Invariant($"Storage writes during the read phases: {c.ReadPhaseWrites.GrainState} grain state, {c.ReadPhaseWrites.Reminder} reminder, {c.ReadPhaseWrites.Index} index; ") +
            Invariant($"during the write phase: {c.WritePhaseWrites.GrainState} grain state, {c.WritePhaseWrites.Reminder} reminder, {c.WritePhaseWrites.Index} index ({c.Write.Ok:N0} writes)."));
        md.AppendLine();
        md.AppendLine(chart);
        md.AppendLine();
        md.AppendLine("**What limits it.** CPU per request (µs of one core), from the last round:");
        md.AppendLine();
        CpuTable(md, [
            ("bare read", c.BaselineCpu, c.BaselineReads[^1].PerSecond),
            .. c.FloorCpu is { } floorCpu && c.FloorReads is { Count: > 0 } floorReads ? [("floor (no-op grain call)", floorCpu, floorReads[^1].PerSecond)] : Array.Empty<(string, CpuUse, double)>(),
            .. c.AskingCpu is { } askingCpu && c.AskingReads is { Count: > 0 } askingReads ? [("asking the host", askingCpu, askingReads[^1].PerSecond)] : Array.Empty<(string, CpuUse, double)>(),
            ("distributed/read (leased)", c.ReadCpu, c.Reads[^1].PerSecond),
            ("distributed/write", c.WriteCpu, c.Write.PerSecond)]);
        var bare = PerRequest(c.BaselineCpu, c.BaselineReads[^1].PerSecond);
        var real = PerRequest(c.ReadCpu, c.Reads[^1].PerSecond);
        md.AppendLine();
        md.AppendLine(Invariant($"With the cores busy ({c.ReadCpu.MachineCores:0.00} of {r.Machine.Cores} during the read phase, {c.ReadCpu.Others:0.00} of it other work), ") +
            Invariant($"throughput is CPU per request: the bare endpoint costs {bare.Values.Sum():0} µs in all, the leased check-in {real.Values.Sum():0} µs ") +
            Invariant($"(Api {real.GetValueOrDefault("api"):0} µs against {bare.GetValueOrDefault("api"):0} µs bare: the lease lookup and the SHA-256 of the node secret).") +
            AskingSentence(c));
        md.AppendLine();
    }

    /// <summary>What the asking and floor phases say about a check-in that calls a grain.</summary>
    private static string AskingSentence(CheckInResult c)
    {
        if (c.AskingCpu is not { } askingCpu || c.AskingReads is not { Count: > 0 } asking)
        {
            return string.Empty;
        }

        var bare = PerRequest(c.BaselineCpu, c.BaselineReads[^1].PerSecond).Values.Sum();
        var ask = PerRequest(askingCpu, asking[^1].PerSecond);
        var sentence = Invariant($" A check-in that asks the host costs {ask.Values.Sum():0} µs (silo {ask.GetValueOrDefault("silo"):0} µs, Api {ask.GetValueOrDefault("api"):0} µs): ") +
            "the Api serializes the call and sends it over the gateway, the silo deserializes it, schedules the grain turn, " +
            "hashes the node secret and answers the same way back.";
        if (c.FloorCpu is not { } floorCpu || c.FloorReads is not { Count: > 0 } floors)
        {
            return sentence;
        }

        var floor = PerRequest(floorCpu, floors[^1].PerSecond).Values.Sum();

        return sentence +
            Invariant($" One no-op grain call alone takes the bare endpoint from {bare:0} to {floor:0} µs ({c.FloorRatio:0.00} of the bare rate), ") +
            (c.FloorRatio < 0.75
                ? "so on this machine no check-in that calls a grain can reach the target; only the check-ins answered under a lease can."
                : "so a grain call per check-in leaves room for the target here.");
    }

    private static void CycleSection(StringBuilder md, CycleResult c, RunReport r, string chart)
    {
        md.AppendLine("## 2. Refetch cycle cost");
        md.AppendLine();
        md.AppendLine(Invariant($"{c.Hosts:N0} enrolled hosts each go through one cycle at {c.Concurrency} concurrent cycles: the operator requests a refetch ") +
            "(`POST /api/v1/hosts/{id}/refetch`), the agent reads (and gets the detail queries), then writes the real results, which " +
            "verifies the host. Time to verified is from the refetch request to the answer of the write. Storage writes are the silo's own " +
            "counts (`/debug/storage-writes`). The baseline is Azurite's raw single-entity write rate: Azure.Data.Tables upserts of a copy " +
            Invariant($"of a real grain-state row ({c.RawEntityBytes:N0} B), one entity per request, at the same concurrency, against the same Azurite. ") +
            Invariant($"Load average at the start: {r.LoadByScenario.GetValueOrDefault("refetch cycle", "?")}."));
        md.AppendLine();
        md.AppendLine("| | per second | p50 ms | p90 ms | p99 ms | max ms | errors |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        Row(md, "refetch cycle (time to verified)", c.Cycles);
        Row(md, "Azurite raw upsert", c.RawWrites);
        md.AppendLine();
        md.AppendLine("| storage writes per cycle | grain state | reminder | index batches (wake-ups and entries) | total |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        md.AppendLine(Invariant($"| measured over {c.Cycles.Ok:N0} cycles ({c.Verified:N0} verified) | {c.StateWritesPerCycle:0.00} | {c.ReminderWritesPerCycle:0.00} | {c.IndexWritesPerCycle:0.00} | **{c.WritesPerCycle:0.00}** |"));
        md.AppendLine();
        md.AppendLine("A refetch's deadline is made durable in the host's index row, saved in the shard's next batch before the host " +
            "stores its pending state (one index transaction carries every host of the shard that waits for it), instead of a reminder " +
            "per host registered at the request and removed at the end; one reminder per index shard sweeps overdue hosts after a crash. " +
            "See docs/architecture.md, \"Durable wake-ups\".");
        md.AppendLine();
        md.AppendLine(Invariant($"Cycles/s relative to raw writes/s: **{c.CyclesPerRawWrite:0.00}** ({c.Cycles.PerSecond:N0} cycles/s against {c.RawWrites.PerSecond:N0} writes/s). ") +
            Invariant($"The cycles made {c.StorageWritesPerSecond:N0} storage writes/s, {c.StorageWritesPerSecond / c.RawWrites.PerSecond:0.00} of the raw rate."));
        md.AppendLine();
        md.AppendLine(chart);
        md.AppendLine();
        md.AppendLine("**What limits it.**");
        md.AppendLine();
        CpuTable(md, [("refetch cycles", c.CycleCpu, c.Cycles.PerSecond), ("Azurite raw upserts", c.RawCpu, c.RawWrites.PerSecond)]);
        md.AppendLine();
        md.AppendLine(Invariant($"Azurite is one Node.js process: it used {c.CycleCpu.Cores.GetValueOrDefault("azurite"):0.00} cores during the cycles and ") +
            Invariant($"{c.RawCpu.Cores.GetValueOrDefault("azurite"):0.00} during the raw upserts. Every cycle waits on three storage round trips in sequence ") +
            Invariant($"(the index batch with its wake-up, the pending state, the verified state; {c.WritesPerCycle:0.##} writes per cycle once batches are shared), so at best cycles/s = raw writes/s ÷ {c.WritesPerCycle:0.##} = {c.RawWrites.PerSecond / Math.Max(1, c.WritesPerCycle):N0}/s; ") +
            Invariant($"the measured {c.Cycles.PerSecond:N0}/s is {c.Cycles.PerSecond / (c.RawWrites.PerSecond / Math.Max(1, c.WritesPerCycle)):0.00} of that bound. The rest is CPU: the three HTTP requests and three grain calls of a cycle, ") +
            Invariant($"the Azure SDK's request signing and JSON on both sides, and Azurite, all on the same cores ({c.CycleCpu.MachineCores:0.00} of {r.Machine.Cores} busy). ") +
            Invariant($"The raw baseline's own client cost {c.RawCpu.Cores.GetValueOrDefault("generator") / Math.Max(1, c.RawWrites.PerSecond) * 1e6:N0} µs of CPU per upsert in the generator; the silo pays the same per storage request."));
        md.AppendLine();
    }

    private static void ScaleSection(StringBuilder md, ScaleResult s, RunReport r, string chart)
    {
        md.AppendLine("## 3. Scale and memory");
        md.AppendLine();
        md.AppendLine("Every host is a real grain with real state: enrolled from the real payload and taken through one completed refetch. " +
            "At each size the silo is killed and started again, a hundred other hosts are activated to load the code paths and the 16 " +
            "index shards (which hold a row per enrolled host), and memory is read after a forced full, compacting GC (`/debug/memory?collect=true`). " +
            "Then every host of the size is activated by an operator read (`GET /api/v1/hosts/{id}`; a check-in would leave a last-seen time to flush on collection), and memory is read again. Per host is the growth divided by the host " +
            "activations the silo reported (on this slow storage the first hosts may be collected again before the last is activated). " +
            "The warm and the all-active readings after the forced GC are each followed by one after an aggressive GC (`/debug/memory?release=true`), " +
            "which also returns to the operating system the free memory the GC keeps committed, and the hosts are activated in two halves " +
            "with an aggressive reading between them; the first table uses the forced readings. (Runs before `ae1f717` activated in one pass " +
            "with no aggressive GC before or between, so their working set per host is not directly comparable with later runs.) " +
            Invariant($"Load average at the start: {r.LoadByScenario.GetValueOrDefault("scale and memory", "?")}."));
        md.AppendLine();
        md.AppendLine("| hosts | populate (enroll + cycle) | activate all | activations/s | active when measured | working set before → all active | managed heap before → all active | per active host: working set | per active host: heap |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in s.Points)
        {
            md.AppendLine(Invariant($"| {p.Hosts:N0} | {p.Populate.Elapsed.TotalSeconds:0} s ({p.Populate.Errors} failed) | {p.Activate.Elapsed.TotalSeconds:0.0} s | {p.ActivationsPerSecond:N0} | {p.ActiveHosts:N0} | {p.Warm.WorkingSet / MiB:0} → {p.Active.WorkingSet / MiB:0} MiB | {p.Warm.ManagedHeap / MiB:0} → {p.Active.ManagedHeap / MiB:0} MiB | {p.WorkingSetPerHost:N0} B | {p.HeapPerHost:N0} B |"));
        }

        md.AppendLine();
        if (s.Points.All(p => p.Active.GcCommitted > 0))
        {
            md.AppendLine("Where an active host's working set goes (forced readings): the GC's heap (live objects and the gaps between them, so it can " +
                "grow less than the managed heap when the warm silo had more gaps), the memory the GC keeps committed beyond it (it sizes what it keeps by " +
                "the last busy spell, not by the hosts; negative when the warm silo held more), and the rest: the working set minus the GC's committed " +
                "memory. The three add up to the working set per host, but the split is approximate: committed memory that was never touched is " +
                "not in the working set, so the GC column can hold more than it adds and the rest then shows less than lies outside the GC " +
                "(code compiled for the load, native buffers). " +
                "The last two columns use the aggressive readings: the growth per host between the warm and the all-active silo, and the second " +
                "half's growth per host, which is what one more active host costs a silo that has paid its one-off costs.");
            md.AppendLine();
            md.AppendLine("| hosts | working set per host | of it: GC heap | GC free space | the rest | working set per host once the GC returns its free memory | per host of the second half: working set / heap |");
            md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var p in s.Points)
            {
                var perAdded = p.WorkingSetPerAddedHost is { } ws && p.HeapPerAddedHost is { } heap
                    ? Invariant($"{ws:N0} B / {heap:N0} B")
                    : "–";
                var released = p.ReleasedWorkingSetPerHost is { } r2 ? Invariant($"{r2:N0} B") : "–";
                md.AppendLine(Invariant($"| {p.Hosts:N0} | {p.WorkingSetPerHost:N0} B | {p.GcHeapPerHost:N0} B | {p.GcFreePerHost:N0} B | {p.OutsideGcPerHost:N0} B | {released} | {perAdded} |"));
            }

            md.AppendLine();
        }
        var largest = s.Points[^1];
        var populated = largest.Hosts;
        var populateSeconds = s.Points.Sum(p => p.Populate.Elapsed.TotalSeconds);
        var how = s.Points[^1].Populate.Name.Contains("silo", StringComparison.Ordinal)
            ? "through the silo's benchmark-only `POST /debug/hosts/populate`, which calls each host's grain as the Api would: enroll with its agent's real enrollment details, then one real refetch (request, distributed read, write of the agent's real results) ending verified"
            : "through the Api, as an agent and an operator would (enroll, refetch, distributed read, distributed write)";
        var first = s.Points[0];

        // One more host's cost (the second half's growth) where the run has it: the average per host also spreads the
        // silo's one-off costs, so it falls with size whatever the curve.
        var marginal = s.Points.All(p => p.WorkingSetPerAddedHost is not null && p.HeapPerAddedHost is not null);
        double WorkingSetCost(ScalePoint p) => marginal ? p.WorkingSetPerAddedHost!.Value : p.WorkingSetPerHost;
        double HeapCost(ScalePoint p) => marginal ? p.HeapPerAddedHost!.Value : p.HeapPerHost;
        var measure = marginal ? "one more active host (the second half's growth)" : "an active host";
        var curve = s.Points.Count < 2
            ? "one size only, so no curve"
            : WorkingSetCost(largest) <= WorkingSetCost(first) * 1.1 && HeapCost(largest) <= HeapCost(first) * 1.1
                ? Invariant($"linear: {measure} cost no more at {largest.Hosts:N0} hosts than at {first.Hosts:N0}")
                : Invariant($"worse than linear: {measure} cost more at {largest.Hosts:N0} hosts than at {first.Hosts:N0}");
        md.AppendLine(Invariant($"Sizes: the issue asks for 10,000, 50,000 and 100,000. Hosts were populated {how}: three grain-state writes per host ") +
            Invariant($"(enrollment, pending, verified) and its share of index batches. That averaged {populated / Math.Max(1, populateSeconds):N0} hosts/s here ") +
            Invariant($"({string.Join(", ", s.Points.Select(p => Invariant($"{p.Populate.PerSecond:N0}/s to {p.Hosts:N0}")))}); Azurite (Node.js, one core) shares the {r.Machine.Cores} cores with the silo. Since a6b9cb2 the harness runs it with its point lookups reordered to scan only the entity's own row (`bench/azurite/point-lookups.cjs`): stock Azurite tests every grain-state row of the table on each read and update, which kept earlier runs at 20,000 hosts. An update still costs it more the more rows its table holds (see bench/README.md). ") +
            Invariant($"Activations ran at {first.ActivationsPerSecond:N0}/s at {first.Hosts:N0} hosts and {largest.ActivationsPerSecond:N0}/s at {largest.Hosts:N0}. ") +
            (populated < 100_000
                ? Invariant($"This run stops at {populated:N0}, the largest of its sizes (the full run's are the issue's). ")
                : string.Empty) +
            Invariant($"The curve across the sizes is {curve}: heap per host ranged {s.Points.Min(HeapCost):N0}–{s.Points.Max(HeapCost):N0} B and working set per host {s.Points.Min(WorkingSetCost):N0}–{s.Points.Max(WorkingSetCost):N0} B") +
            (populated < 100_000
                ? Invariant($"; a linear extrapolation from the all-active silo at {largest.Hosts:N0}, at {WorkingSetCost(largest):N0} B per further host, puts 100,000 active hosts at about {(largest.Active.WorkingSet + ((100_000 - largest.ActiveHosts) * WorkingSetCost(largest))) / MiB:N0} MiB of working set.")
                : "."));
        md.AppendLine();
        if (s.AfterIdle is { } idle)
        {
            var last = s.Points[^1];
            md.AppendLine(Invariant($"After idle collection (`Fleet:Silo:CollectionAge` {r.Options.Profile.CollectionAge.TotalSeconds:0} s; waited {s.IdleWait.TotalSeconds:0} s): {idle.HostActivations:N0} host activations left, ") +
                Invariant($"working set {idle.WorkingSet / MiB:0} MiB after a forced GC (from {last.Active.WorkingSet / MiB:0} MiB all active, also after a forced GC; a restarted silo with its index loaded had {last.Warm.WorkingSet / MiB:0} MiB") +
                (last.ActiveReleased is { } activeReleased
                    ? Invariant($"; the aggressive GC right after the all-active reading had brought it to {activeReleased.WorkingSet / MiB:0} MiB, and the GC took memory again for the collection's work and kept it")
                    : string.Empty) +
                "), " +
                Invariant($"managed heap {idle.ManagedHeap / MiB:0} MiB (from {last.Active.ManagedHeap / MiB:0} MiB). ") +
                (ScaleMemory.IdleCollectionDone(idle, last.Hosts)
                    ? Invariant($"Collecting the idle hosts cost {s.IdleWrites?.GrainState ?? 0:N0} grain-state writes: each host that checked in since its last write flushes its last-seen time when it is deactivated") +
                      IdleFlushText(s.IdleFlushes)
                    : "**Collection had not finished when the wait ended**, so these are not the figures of an idle silo: Orleans collects an " +
                      "activation at the first check of its collector (once a collection quantum, 1 min by default) after its age has passed."));
            md.AppendLine();
        }

        var fresh = s.Points[0].Fresh;
        var warm = s.Points[0].Warm;
        md.AppendLine(Invariant($"The read model: a freshly started silo had a {fresh.WorkingSet / MiB:0} MiB working set and {fresh.ManagedHeap / MiB:0} MiB heap; ") +
            Invariant($"with the index shards loaded ({s.EnrolledTotal:N0}+ enrolled hosts at the last size) {s.Points[^1].Warm.WorkingSet / MiB:0} MiB and {s.Points[^1].Warm.ManagedHeap / MiB:0} MiB."));
        md.AppendLine();
        md.AppendLine(chart);
        md.AppendLine();
        md.AppendLine("**What limits it.** ");
        md.AppendLine();
        CpuTable(md, [.. s.Points.Select(p => (Invariant($"activating {p.Hosts:N0}"), p.ActivateCpu, p.Activate.PerSecond))]);
        md.AppendLine();
        md.AppendLine(Invariant($"Memory: an active host costs {largest.HeapPerHost:N0} B of managed heap at {largest.Hosts:N0} hosts") +
            (r.Cycles is { RawEntityBytes: > 0 } cycles ? Invariant($"; its stored state is about {cycles.RawEntityBytes:N0} B of JSON") : string.Empty) +
            Invariant($". The rest is the activation itself (Orleans' activation data, message ") +
            "queues, the grain's storage bridge with its ETag, its wake-up timer while work is pending) and the deserialized `HostState` " +
            "(identity strings, `HostDetails` with about twenty fields, the node-secret hash, the last transitions, the refetch record; its MDM " +
            "command and profile lists are null while empty). The low-cardinality " +
            "strings of `HostDetails` (platform, OS name, version and build, osquery version, hardware model and vendor, CPU brand, " +
            "architecture, kernel) come from one bounded silo-wide pool, so active hosts on the same OS and hardware share them. The working set " +
            "adds what the GC keeps committed beyond live objects (the silo runs the workstation, concurrent GC; server GC kept more than twice as much). With `FLEET_BENCH_GCDUMP` set, the run's folder holds heap dumps " +
            "of the warm and the all-active silo at each size (`silo-warm-N.gcdump`, `silo-active-N.gcdump`) and their type reports. " +
            "Activation rate: each activation reads the host's row from Azurite and publishes to its index shard.");
        md.AppendLine();
    }

    private static void DeadlineSection(StringBuilder md, RunReport r, List<string> charts)
    {
        md.AppendLine("## 4. Deadline precision");
        md.AppendLine();
        md.AppendLine(Invariant($"Silent hosts (they never check in) are refetched all at once, with one attempt and a {r.Options.Profile.PickupTimeout.TotalSeconds:0} s pickup timeout, ") +
            "so each must fail at its deadline. Lateness is the failed transition's time (`status_changed_at` in the host list) " +
            "minus the `deadline` the refetch answer gave; a host the list does not show failed is read directly (`GET /api/v1/hosts/{id}`), " +
            "and if it failed there only the index lagged (its own `completed_at` counts). \"Never failed\" are hosts that really did not. The second round kills the silo (SIGKILL) halfway between the last " +
            Invariant($"request and the first deadline and starts a new one; its hosts are re-activated by their index shards' sweeps (one reminder per shard, period {r.Options.Profile.ReminderPeriod.TotalSeconds:0} s). ") +
            Invariant($"Load average at the start: {r.LoadByScenario.GetValueOrDefault("deadline precision", "?")}."));
        md.AppendLine();
        md.AppendLine("| round | hosts (accepted of asked) | refetches sent in | min | p50 | p99 | max | never failed | failed, index behind | silo |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var d in r.Deadlines)
        {
            var silo = d.KillBeforeFirstDeadlineSeconds is { } lead
                ? lead >= 0
                    ? Invariant($"killed {lead:0.0} s before the first deadline, serving again {d.SiloDownSeconds:0.0} s later")
                    : Invariant($"killed {-lead:0.0} s after the first deadline (sending outlasted it, so the kill aimed halfway to the last), serving again {d.SiloDownSeconds:0.0} s later")
                : "running throughout";
            md.AppendLine(Invariant($"| {d.Name} | {d.Accepted:N0} of {d.Hosts:N0} | {d.RequestWindow.TotalSeconds:0.0} s | {d.Min:N0} ms | {d.P50:N0} ms | {d.P99:N0} ms | {d.Max:N0} ms | {d.Missing}{(d.Missing > 0 ? $" ({Describe(d.MissingByStatus)})" : "")} | {d.IndexLagged} | {silo} |"));
        }

        md.AppendLine();
        foreach (var chart in charts)
        {
            md.AppendLine(chart);
            md.AppendLine();
        }

        var first = r.Deadlines[0];
        md.AppendLine(Invariant($"**What limits it.** Sending: {first.Accepted:N0} refetches were accepted in {first.RequestWindow.TotalSeconds:0} s ({first.Accepted / Math.Max(1, first.RequestWindow.TotalSeconds):0.0}/s). ") +
            "Each waits for its index batch (its wake-up) and its pending state at Azurite, whose every update costs more the more rows its " +
            "table holds (see bench/README.md); the refetches still being sent when the window closed are not counted. " +
            "Lateness: while a host is active its deadline is a grain timer, so lateness is how long the " +
            "timer's turn waits: the timers fall due while later refetches are still being sent, and each failing " +
            "host writes its failed state, one storage request queued at the one Azurite. The failed time " +
            "is taken when the turn runs, before that write. After a crash nothing is active: a host comes back only when its index " +
            "shard, re-activated by the shard's reminder at its next period tick after the new silo is up, loads its rows and wakes " +
            "every host whose deadline has passed; each fails then, or arms its timer again if its deadline is still ahead. So after a " +
            "restart the lateness is bounded by the downtime plus one reminder period. Both hold only while storage answers within " +
            "its client's timeouts (10 s per try). A flood of refetches is a flood of state updates and index rows, and each update costs " +
            "Azurite more the more rows its table holds (see bench/README.md); once its queue passes the timeouts, a host whose write " +
            "timed out is dropped from memory with its timer, and is failed again only by its shard's next sweep, tens of seconds late.");
        md.AppendLine();
    }

    private static void SteadySection(StringBuilder md, SteadyResult s, RunReport r, List<string> charts)
    {
        md.AppendLine("## 5. Steady fleet");
        md.AppendLine();
        var fleet = s.Fleet;
        md.AppendLine(Invariant($"A fleet of N hosts checking in (`distributed/read`, nothing to do) every {s.Interval.TotalSeconds:0} s, drawn from ") +
            Invariant($"scenario 3's {fleet:N0} hosts (enrolled, one completed refetch, all active). Up to N = {fleet:N0}, N of them each check in every {s.Interval.TotalSeconds:0} s ") +
            "and their check-in leases decide which check-ins ask the host's grain, as in a real fleet. A larger N is run as the same check-in rate from all " +
            Invariant($"{fleet:N0}, each checking in every {s.Interval.TotalSeconds:0} s × {fleet:N0} / N: for the server a check-in touches no storage, so the rate is what loads it, ") +
            "while N real hosts would also hold more activations in memory (scenario 3 gives that cost). Such a host checks in more often than its lease lasts and " +
            Invariant($"would find it nearly every time, so, as in a real fleet at {CheckInResult.FleetInterval.TotalSeconds:0} s with the default {CheckInResult.DefaultLease.TotalSeconds:0} s lease, one check-in in {1 / CheckInResult.FleetAskingShare:0} ") +
            "goes instead to `/bench/baseline/asking/distributed/read`, which asks the host's grain every time, and the rest to `distributed/read`; " +
            "where the interval is still a good part of the lease, the rest also ask when their lease has lapsed, so such a probe asks the grains more often than a real fleet of N would. " +
            "Check-ins are paced open-loop: each is due at its slot whether or not earlier ones answered, and latency counts from " +
            "when it was due, so a server or generator that falls behind shows as latency, not as fewer requests. The first " +
            "10 s are a warm-up and not counted. Short probes of growing N find the size; that size must then hold p99 < 100 ms " +
            Invariant($"with zero errors for the whole window. Load average at the start: {r.LoadByScenario.GetValueOrDefault("steady fleet", "?")}."));
        md.AppendLine();
        md.AppendLine("| run | N (hosts at 10 s) | real hosts × interval | due/s | answered/s | p50 ms | p90 ms | p99 ms | max ms | errors | generator lag p99 ms | verdict |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var p in s.Probes)
        {
            SteadyRow(md, s, Invariant($"probe {p.Measured.TotalSeconds:0} s"), p);
        }

        foreach (var (hold, _) in s.Holds)
        {
            SteadyRow(md, s, Invariant($"**hold {hold.Measured.TotalMinutes:0} min**"), hold);
        }

        md.AppendLine();
        SteadyErrors(md, s);
        foreach (var chart in charts)
        {
            md.AppendLine(chart);
            md.AppendLine();
        }

        md.AppendLine("**What limits it.**");
        md.AppendLine();
        CpuTable(md, [.. s.Holds.Select(h => (Invariant($"hold at {s.Equivalent(h.Result):N0}"), h.Cpu, h.Result.Stats.PerSecond))]);
        md.AppendLine();
        if (s.Holds.Count > 0)
        {
            var (hold, cpu) = s.Holds[^1];
            var perCheckIn = PerRequest(cpu, hold.Stats.PerSecond).Values.Sum();
            var ceiling = r.Machine.Cores * 1e6 / Math.Max(1, perCheckIn) * s.Interval.TotalSeconds;
            var held = s.Held;
            md.AppendLine(Invariant($"A check-in cost {perCheckIn:0} µs of CPU across the silo, the Api, the generator and Azurite; if CPU were the only limit, ") +
                Invariant($"{r.Machine.Cores} cores would carry about {ceiling:N0} hosts at {s.Interval.TotalSeconds:0} s. ") +
                Invariant($"During the hold the machine was {cpu.MachineCores / r.Machine.Cores * 100:0} % busy ({cpu.Others:0.00} cores of other work). ") +
                "p99 rises well before the cores are saturated: a check-in that lands behind a garbage collection, a batch of index " +
                "flushes, or another tenant's burst waits for a core.");
            md.AppendLine();
            md.AppendLine(Invariant($"**Against Fleet's reference** (~150,000 hosts on 20 tasks of one vCPU each, ~{FleetHostsPerVcpu:N0} hosts and ~{FleetCheckInsPerVcpu:N0} check-ins/s per vCPU): ") +
                Invariant($"this machine held {held:N0} hosts on {r.Machine.Cores} cores, {held / (double)r.Machine.Cores:N0} hosts and {held / s.Interval.TotalSeconds / r.Machine.Cores:N0} check-ins/s per core, ") +
                "with the storage emulator and the load generator on the same cores. Fleet's check-in is a MySQL-backed Go service behind a load balancer; " +
                "this one answers a no-op check-in from memory (the Api's check-in lease, or the host grain's state) without touching storage.");
            md.AppendLine();
        }
    }

    // Runs saved before the harness told errors apart have no kinds; their rows give the count only.
    private static void SteadyErrors(StringBuilder md, SteadyResult s)
    {
        var runs = s.Probes.Select(p => (Name: Invariant($"probe of {s.Equivalent(p):N0}"), Run: p))
            .Concat(s.Holds.Select(h => (Name: Invariant($"hold of {s.Equivalent(h.Result):N0}"), Run: h.Result)))
            .Where(r => r.Run.ErrorKinds is { Count: > 0 })
            .ToList();
        if (runs.Count == 0)
        {
            return;
        }

        md.AppendLine("The errors, by kind (an answer's status, an exception's type, or check-ins the generator did not send because its limit was in flight), with the first of each:");
        md.AppendLine();
        md.AppendLine("| run | kind | count | first |");
        md.AppendLine("|---|---|---:|---|");
        foreach (var (name, run) in runs)
        {
            foreach (var error in run.ErrorKinds!)
            {
                var first = Cell(error.First);
                md.AppendLine(Invariant($"| {name} | {Cell(error.Kind)} | {error.Count:N0} | `{(first.Length > 200 ? first[..200] + "…" : first)}` |"));
            }
        }

        md.AppendLine();
    }

    // Text from an answer or an exception, fit for one cell of a table inside backticks.
    private static string Cell(string text) =>
        text.ReplaceLineEndings(" ").Replace("|", "\\|", StringComparison.Ordinal).Replace("`", "'", StringComparison.Ordinal);

    private static void SteadyRow(StringBuilder md, SteadyResult s, string name, PacedResult p) =>
        md.AppendLine(Invariant($"| {name} | {s.Equivalent(p):N0} | {p.Hosts:N0} × {p.Interval.TotalSeconds:0.00} s | {p.TargetPerSecond:N0} | {p.Stats.PerSecond:N0} | {p.Stats.P50:0.0} | {p.Stats.P90:0.0} | {p.Stats.P99:0.0} | {p.Stats.Max:0} | {p.Stats.Errors:N0} | {p.LateStartP99:0.0} | {(SteadyResult.Passes(p) ? "holds" : "does not hold")} |"));

    private static void Row(StringBuilder md, string name, LoadStats s) =>
        md.AppendLine(Invariant($"| {name} | {s.PerSecond:N0} | {s.P50:0.00} | {s.P90:0.00} | {s.P99:0.00} | {s.Max:0.0} | {s.Errors:N0} |"));

    // Runs saved before the silo counted its deactivating hosts' flushes by outcome have no counts.
    private static string IdleFlushText(FlushCounts? flushes) => flushes is not { All: > 0 } f
        ? "."
        : Invariant($". Of {f.All:N0} hosts that owed one, {f.Stored:N0} stored it, {f.Failed:N0} failed and {f.Skipped:N0} skipped it: ") +
          "at most `Fleet:CheckIns:DeactivationFlushes` (16) write at once, and a host that gets no turn within half of Orleans' " +
          "deactivation timeout (15 s) leaves without writing. Orleans starts deactivating the idle hosts together, so on Azurite the share " +
          "stored is about its write rate times 15 s over the hosts collected (see \"Writes\" in docs/architecture.md).";

    private static void CpuTable(StringBuilder md, IEnumerable<(string Name, CpuUse Cpu, double Rate)> phases)
    {
        md.AppendLine("| phase | silo | Api | generator | Azurite | other work | machine busy | CPU µs per operation (ours) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, cpu, rate) in phases)
        {
            var c = cpu.Cores;
            md.AppendLine(Invariant($"| {name} | {c.GetValueOrDefault("silo"):0.00} | {c.GetValueOrDefault("api"):0.00} | {c.GetValueOrDefault("generator"):0.00} | {c.GetValueOrDefault("azurite"):0.00} | {cpu.Others:0.00} | {cpu.MachineCores:0.00} | {PerRequest(cpu, rate).Values.Sum():N0} |"));
        }
    }

    private static Dictionary<string, double> PerRequest(CpuUse cpu, double rate) =>
        cpu.Cores.ToDictionary(c => c.Key, c => c.Value / Math.Max(rate, 1e-9) * 1e6, StringComparer.Ordinal);

    internal static string AtLeast(double measured, double target, string format, string unit = "")
    {
        var value = measured.ToString(format, CultureInfo.InvariantCulture);
        return measured >= target
            ? "**met**"
            : Invariant($"**missed** by {(target - measured).ToString(format, CultureInfo.InvariantCulture)}{unit} ({(target - measured) / target * 100:0} % short; measured {value}{unit})");
    }

    internal static string AtMost(double measured, double target, string format, string unit = "") =>
        measured <= target
            ? "**met**"
            : Invariant($"**missed** by {(measured - target).ToString(format, CultureInfo.InvariantCulture)}{unit} ({(measured - target) / target * 100:0.#} % over)");

    private static string Chart(string file, string link) => Invariant($"![{Path.GetFileNameWithoutExtension(file)}]({link}/{file})");

    private static string Describe(IReadOnlyDictionary<string, int> byStatus) =>
        string.Join(", ", byStatus.OrderByDescending(kv => kv.Value).Select(kv => Invariant($"{kv.Value} {kv.Key}")));
}
