using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fleet.Bench.Report;
using Fleet.Bench.Scenarios;

namespace Fleet.Bench;

/// <summary>
/// The benchmark harness: starts the product (Release) on its own ports, runs the scenarios in order and
/// writes the report. Started by <c>bench/run</c>, which builds everything and runs Azurite first.
/// Exit codes: 0 all invariants hold, 1 an invariant failed, 2 the harness or the product broke.
/// </summary>
internal static class BenchProgram
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        IncludeFields = true,
        PreferredObjectCreationHandling = JsonObjectCreationHandling.Populate,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static async Task<int> Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (ArgumentException exception)
        {
            await Console.Error.WriteLineAsync("error: " + exception.Message);
            return 2;
        }

        Directory.CreateDirectory(options.ResultsDir);
        if (options.RenderFrom is { } saved)
        {
            // Writes the report again from a run's results.json, e.g. after a change to the report's wording.
            // With the run's own profile (its sizes and settings appear in the text), and docs/ only for a full run.
            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(saved));
            var root = document.RootElement;
            var rendered = root.Deserialize<RunReport>(s_json)!;
            var profile = root.GetProperty("Profile").Deserialize<BenchProfile>(s_json)!;
            rendered.Options = options with
            {
                Profile = profile,
                WriteDocs = options.WriteDocs && profile.Name == BenchProfile.Full.Name,
                Commit = root.GetProperty("Commit").GetString()!,
            };
            WriteOutputs(rendered.Options, rendered);
            PrintSummary(rendered);
            return 0;
        }

        // A hard bound on the whole run, whatever happens inside it; a partial run populates a large fleet at any size.
        using var cancel = new CancellationTokenSource(options.IsShort && options.Only.Count == 0 ? TimeSpan.FromMinutes(8) : TimeSpan.FromMinutes(100));
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        using var product = new Product(options);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => product.Dispose();
        var report = new RunReport(options)
        {
            Machine = MachineInfo.Read(),
            StartedAt = DateTimeOffset.UtcNow,
            LoadAtStart = MachineInfo.LoadAverage(),
            Settings = product.Settings,
        };

        var broken = await RunAsync(options, product, report, cancel.Token);
        product.Dispose();
        report.LoadAtEnd = MachineInfo.LoadAverage();
        WriteOutputs(options, report);
        PrintSummary(report);

        return broken ? 2 : report.InvariantsHold ? 0 : 1;
    }

    /// <summary>Runs the scenarios; returns true when the harness or the product broke on the way.</summary>
    private static async Task<bool> RunAsync(BenchOptions options, Product product, RunReport report, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        try
        {
            Console.WriteLine($"Starting the silo and the Api (logs in {options.ResultsDir})...");
            await product.StartAsync(cancellationToken);
            using var http = new FleetHttp(product.ApiUri, product.SiloUri, product.Token, maxConnections: 512);
            var context = new BenchContext(options, product, http, new Payloads(options.RepoRoot));

            // --only runs the named scenarios alone; the first five run together otherwise (scale warms up on scenario 1's hosts).
            // Order: 1, 2, 3, 5, 3's idle collection, 4, then 7 and 6.
            var all = options.Only.Count == 0;
            await ScenarioAsync(context, report, "check-in throughput", async ct =>
            {
                report.CheckIns = await CheckInThroughput.RunAsync(context, ct);
            }, cancellationToken, skip: !options.Runs(ScenarioNames.CheckIn));
            await ScenarioAsync(context, report, "refetch cycle", async ct => report.Cycles = await RefetchCycle.RunAsync(context, ct), cancellationToken, skip: !all);
            await ScenarioAsync(context, report, "scale and memory", async ct =>
            {
                // Scenario 1's hosts warm a restarted silo up; they are not part of the measured fleet. Alone, it enrolls its own.
                var warmUp = context.Enrolled.Count >= 100 ? context.Enrolled.Take(100).ToList() : Payloads.MakeHosts(0xB5, 0, 100);
                if (context.Enrolled.Count < 100)
                {
                    await context.EnrollAsync(warmUp, 8, ct);
                }

                report.Scale = await ScaleMemory.RunAsync(context, warmUp, ct);
            }, cancellationToken, skip: !(options.Runs(ScenarioNames.Scale) || options.Runs(ScenarioNames.Steady)) || options.Profile.ScaleSizes.Count == 0);

            // The steady fleet runs while the scale scenario's hosts are still active; idle collection follows it.
            await ScenarioAsync(context, report, "steady fleet", async ct => report.Steady = await SteadyFleet.RunAsync(context, ct), cancellationToken, skip: report.Scale is null || !options.Runs(ScenarioNames.Steady));
            await ScenarioAsync(context, report, "idle collection", async ct =>
            {
                report.Scale = await ScaleMemory.IdleAsync(context, report.Scale!, ct);
            }, cancellationToken, skip: report.Scale is null, waitForQuiet: false);

            // After the scale scenario, whose hosts it refetches (silent now), so it enrolls none of its own. Every write to
            // Azurite costs more the more rows its table holds (its in-memory store scans a whole index on each update), so
            // the scale scenario goes first, on nearly empty tables, and this one pays for them.
            await ScenarioAsync(context, report, "deadline precision", async ct => report.Deadlines = await DeadlinePrecision.RunAsync(context, ct), cancellationToken, skip: !all);

            await ScenarioAsync(context, report, ScenarioNames.Jobs, async ct =>
            {
                report.Jobs = await RefetchJobsBench.RunAsync(context, ct);
            }, cancellationToken, skip: !options.Runs(ScenarioNames.Jobs) || options.Profile.JobHosts == 0);

            // Last: 100,000 hosts grow Azurite's tables, which would slow every scenario after them.
            await ScenarioAsync(context, report, ScenarioNames.FleetQueries, async ct =>
            {
                report.FleetQueries = await FleetQueries.RunAsync(context, ct);
            }, cancellationToken, skip: !options.Runs(ScenarioNames.FleetQueries) || options.Profile.FleetQueryHosts == 0);
            report.Invariants.AddRange(context.Invariants);
            foreach (var (scenario, load) in context.LoadAtStart)
            {
                report.LoadByScenario[scenario] = load;
            }

            return report.Failures.Count > 0;
        }
        catch (Exception exception)
        {
            report.Failures["harness"] = exception.ToString();
            await Console.Error.WriteLineAsync("error: " + exception.Message);
            return true;
        }
        finally
        {
            report.Duration = DateTimeOffset.UtcNow - started;
        }
    }

    private static async Task ScenarioAsync(
        BenchContext context,
        RunReport report,
        string name,
        Func<CancellationToken, Task> run,
        CancellationToken cancellationToken,
        bool skip = false,
        bool waitForQuiet = true)
    {
        if (skip || report.Failures.ContainsKey("product"))
        {
            return;
        }

        if (waitForQuiet)
        {
            await context.WaitForQuietAsync(name, cancellationToken);
        }

        try
        {
            await run(cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            report.Failures[name] = exception.ToString();
            context.Log($"{name} failed: {exception.Message}");
            if (context.Product.Silo?.HasExited != false || context.Product.Api?.HasExited != false)
            {
                report.Failures["product"] = "a product process exited; see silo.log and api.log in " + context.Options.ResultsDir;
            }
        }
    }

    private static void WriteOutputs(BenchOptions options, RunReport report)
    {
        File.WriteAllText(Path.Combine(options.ResultsDir, "results.json"), JsonSerializer.Serialize(report, s_json));
        var fleet = string.Concat(FleetReport.Sections(report).Values);
        File.WriteAllText(Path.Combine(options.ResultsDir, "report.md"), MarkdownReport.Write(report, options.ResultsDir, ".") + fleet);
        if (options.WriteDocs)
        {
            // A partial run (--only) rewrites only its own sections of the fleet report and leaves benchmarks.md alone.
            var docs = Path.Combine(options.RepoRoot, "docs");
            FleetReport.WriteDocs(docs, report);
            if (options.Only.Count == 0)
            {
                var markdown = MarkdownReport.Write(report, Path.Combine(docs, "benchmarks"), "benchmarks");
                File.WriteAllText(Path.Combine(docs, "benchmarks.md"), markdown);
            }
        }
    }

    private static void PrintSummary(RunReport report)
    {
        var lines = new List<string> { string.Empty, $"== Fleet.Orleans benchmark ({report.Options.Profile.Name}, commit {report.Options.Commit}) ==" };
        if (report.CheckIns is { } c)
        {
            lines.Add(Line($"check-in: read {c.ReadRate:0}/s vs bare {c.BaselineRate:0}/s = {c.ReadRatio:0.00} ({c.LeaseShare:P0} leased; target 0.75; asking the host {c.AskingRatio:0.00}, projected fleet mix {c.ProjectedFleetRatio:0.00}, bare + no-op grain call {c.FloorRatio:0.00}); write {c.Write.PerSecond:0}/s; read p99 {c.Reads[^1].P99:0.0} ms"));
        }

        if (report.Cycles is { } cy)
        {
            lines.Add(Line($"refetch cycle: {cy.WritesPerCycle:0.00} writes/cycle (target 3), {cy.Cycles.PerSecond:0} cycles/s vs Azurite {cy.RawWrites.PerSecond:0} writes/s = {cy.CyclesPerRawWrite:0.00}; p50/p99 {cy.Cycles.P50:0}/{cy.Cycles.P99:0} ms"));
        }

        if (report.Scale is { Points.Count: > 0 } s)
        {
            var largest = s.Points[^1];
            lines.Add(Line($"memory: {largest.WorkingSetPerHost / 1024:0.0} KiB working set, {largest.HeapPerHost / 1024:0.0} KiB heap per active host at {largest.Hosts} (target 4 KiB)"));
            if (largest.ReleasedWorkingSetPerHost is { } released && largest.WorkingSetPerAddedHost is { } added)
            {
                lines.Add(Line($"memory: {released / 1024:0.0} KiB working set per host once the GC returned its free memory, {added / 1024:0.0} KiB per host of the second half"));
            }
        }

        foreach (var d in report.Deadlines)
        {
            lines.Add(Line($"deadline ({d.Name}): failed − deadline p50 {d.P50:0} ms, p99 {d.P99:0} ms, max {d.Max:0} ms, {d.Missing} never failed"));
        }

        if (report.Steady is { } st)
        {
            lines.Add(Line($"steady fleet: held {st.Held} hosts at 10 s (target 50000)"));
        }

        if (report.Jobs is { } jobs)
        {
            lines.AddRange(jobs.Jobs.Select(j => Line($"job {j.Name} over {jobs.Hosts} hosts: {j.FinalState}, {j.AchievedRate:0.0} requests/s, all terminal in {j.AllTerminalAt.TotalSeconds:0} s, {j.WritesPerHost:0.00} writes per host")));
            if (jobs.Problem is { } problem)
            {
                lines.Add("jobs: " + problem);
            }
        }

        if (report.FleetQueries is { } fq)
        {
            lines.AddRange(fq.Queries.Select(q => Line($"fleet queries ({fq.Mix.Hosts} hosts): {q.Name}: p50 {q.P50:0.0} ms, p95 {q.P95:0.0} ms, {q.Errors} errors, matched {q.Matched}")));
        }

        lines.AddRange(report.Invariants.Select(i => $"invariant {(i.Passed ? "ok  " : "FAIL")}: {i.Name}: {i.Detail}"));
        lines.AddRange(report.Failures.Keys.Select(k => $"did not finish: {k}"));
        lines.Add(Line($"load average {report.LoadAtStart} at start, {report.LoadAtEnd} at end; took {report.Duration.TotalMinutes:0.0} min"));
        var docs = report.Options.Only.Count == 0 ? "docs/benchmarks.md and docs/" + FleetReport.DocsFile : "docs/" + FleetReport.DocsFile;
        lines.Add($"report: {Path.Combine(report.Options.ResultsDir, "report.md")}" + (report.Options.WriteDocs ? " and " + docs : string.Empty));
        Console.WriteLine(string.Join('\n', lines));
    }

    private static string Line(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
