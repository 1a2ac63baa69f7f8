using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fleet.Bench.Scenarios;
using static System.FormattableString;

namespace Fleet.Bench.Report;

/// <summary>
/// The fleet-scale sections (host queries at 100,000 hosts, bulk refetch jobs). They live in
/// <c>docs/benchmarks-fleet.md</c>, which <c>docs/benchmarks.md</c> links to, so that <c>bench/run --only</c>
/// can rewrite its own section there and keep the others as the last run left them.
/// </summary>
internal static partial class FleetReport
{
    public const string DocsFile = "benchmarks-fleet.md";

    private const string Title = "# Fleet.Orleans benchmarks at fleet scale";

    /// <summary>The sections this run measured, each between its markers.</summary>
    public static IReadOnlyDictionary<string, string> Sections(RunReport r)
    {
        var sections = new Dictionary<string, string>(StringComparer.Ordinal);
        if (r.FleetQueries is { } q)
        {
            sections[ScenarioNames.FleetQueries] = QueriesSection(q, r);
        }

        if (r.Jobs is { } j)
        {
            sections[ScenarioNames.Jobs] = JobsSection(j, r);
        }

        return sections;
    }

    /// <summary>Replaces this run's sections in the fleet report (or starts one), keeping every other section.</summary>
    public static void WriteDocs(string docsFolder, RunReport r)
    {
        var path = Path.Combine(docsFolder, DocsFile);
        var text = File.Exists(path) ? File.ReadAllText(path) : Title + "\n\n" + Intro + "\n";
        foreach (var (name, body) in Sections(r))
        {
            var marked = Invariant($"<!-- section {name} -->\n{body}<!-- end {name} -->\n");
            var pattern = new Regex(Invariant($"<!-- section {Regex.Escape(name)} -->\n.*?<!-- end {Regex.Escape(name)} -->\n"), RegexOptions.Singleline);
            text = pattern.IsMatch(text) ? pattern.Replace(text, marked.Replace("$", "$$", StringComparison.Ordinal), 1) : text.TrimEnd('\n') + "\n\n" + marked;
        }

        File.WriteAllText(path, text);
    }

    private const string Intro =
        "Written by `bench/run` (full run) or `bench/run --only fleet-queries,jobs`, each section by the run that " +
        "measured it; rerun rather than edit. The machine, settings and other scenarios: [benchmarks.md](benchmarks.md).";

    private static string QueriesSection(FleetQueryResult q, RunReport r)
    {
        var md = new StringBuilder();
        var m = q.Mix;
        Heading(md, r, Invariant($"6. Host queries over {m.Hosts:N0} hosts"), ScenarioNames.FleetQueries);
        md.AppendLine(Invariant($"{(m.Seeded == 0 ? "Every host is" : $"{m.Hosts - m.Seeded:N0} hosts are")} a real grain with real state, enrolled through the Api from the real payloads{(m.Seeded == 0 ? "" : $"; the other {m.Seeded:N0} are entries seeded straight into the host index through the silo's benchmark-only `POST /debug/index/seed` (same mix, no grain, no agent), to keep the run short: scenario 3 of benchmarks.md measures real hosts at the issue's sizes. The reads measured here touch only the index, as in production")}. Mix over all {m.Hosts:N0} (the index also holds the hosts of the run's other scenarios): {Describe(m.ByProfile)} (Windows hosts replay the Ubuntu capture with a Windows 11 `os_version` row). {m.InTeams:N0} are in one of four teams. Refetch groups: {Describe(m.ByGroup)}; verified hosts went through the whole cycle, failed ones answered with an error for `system_info` (macOS 15 and Windows hosts, allowed three attempts, go back to pending for a retry), pending ones were requested last and never answer. Populating took {m.Populate.TotalMinutes:0.0} min and {m.PopulateWrites.GrainState:N0} grain-state, {m.PopulateWrites.Reminder:N0} reminder and {m.PopulateWrites.Index:N0} index-batch writes. The summary then said: {Describe(m.Summary)}."));
        md.AppendLine();
        md.AppendLine(Invariant($"Each read is asked {q.Queries[0].Requests} times, one request at a time (latency is the whole HTTP round trip from the load generator); the list is `GET /{FleetQueries.ListQuery}`, its second page passes the first page's `next_cursor`, the identifier lookup asks for random hosts by serial, hostname and lower-case UUID in turn. The bare round trip is `POST /bench/baseline/distributed/read` on the same Api (no grain call): the floor under every number here."));
        md.AppendLine();
        md.AppendLine("| read | p50 ms | p95 ms | p99 ms | max ms | errors | matched (last answer) |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var t in q.Queries)
        {
            md.AppendLine(Invariant($"| {t.Name} | {t.P50:0.0} | {t.P95:0.0} | {t.P99:0.0} | {t.Max:0.0} | {t.Errors} of {t.Requests} | {t.Matched:N0} |"));
        }

        md.AppendLine();
        md.AppendLine("| target | measured | verdict |");
        md.AppendLine("|---|---|---|");
        Target(md, q.Find(FleetQueryResult.ListName), "filtered list, first page, median < 200 ms", 200);
        Target(md, q.Find(FleetQueryResult.SummaryName), "summary, median < 100 ms", 100);
        md.AppendLine();
        md.AppendLine("CPU while measuring (cores busy): " + q.QueryCpu.Describe() + ".");
        md.AppendLine();

        return md.ToString();
    }

    private static string JobsSection(JobsResult j, RunReport r)
    {
        var md = new StringBuilder();
        Heading(md, r, Invariant($"7. Bulk refetch jobs over {j.Hosts:N0} hosts"), ScenarioNames.Jobs);
        md.AppendLine(Invariant($"{j.Hosts:N0} hosts (Ubuntu and macOS 14, from the real payloads) in one team; each job is `POST /api/v1/refetch_jobs` with `{{\"filter\": {{\"team_id\": …}}, \"rate\": R}}`, polled every second. While it runs, 32 workers check the hosts in round-robin (a `distributed/read`, and the real `distributed/write` when queries come back), so each agent answers within a round. Achieved rate is requested hosts over the time to the poll that saw the last request; writes per host are the silo's grain-state and reminder writes over the job, with the index batches (which carry the hosts' wake-ups and entries, shared between the hosts of a batch) after the plus sign. Baseline: Azurite's raw single-entity upserts of a real grain-state row, measured just before: **{j.RawWrites.PerSecond:N0} writes/s**, so at about 3 writes per refetch the storage allows about {j.RawWrites.PerSecond / 3:N0} refetches/s."));
        md.AppendLine();
        md.AppendLine("| job | asked | achieved requests/s | job's own rate (max while running) | requested / matched | verified | failed | superseded | state | to all terminal | writes per host (+ index) | check-ins |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var job in j.Jobs)
        {
            md.AppendLine(Invariant($"| {job.Name} | {job.AskedRate:N0}/s | {job.AchievedRate:0.0} | {job.ReportedRate:0.0} | {job.Requested:N0} / {job.Matched:N0} | {job.Verified:N0} | {job.Failed:N0} | {job.Superseded:N0} | {job.FinalState}{(job.Finished ? string.Empty : " (gave up waiting)")} | {job.AllTerminalAt.TotalSeconds:0} s | {job.WritesPerHost:0.00} (+{job.IndexWritesPerHost:0.00}) | {job.CheckIns:N0} |"));
        }

        md.AppendLine();
        foreach (var job in j.Jobs)
        {
            md.AppendLine(Invariant($"CPU during the job {job.Name}: {job.Cpu.Describe()}."));
            md.AppendLine();
        }

        if (j.Problem is { } problem)
        {
            md.AppendLine(Invariant($"Did not finish: {problem}"));
            md.AppendLine();
        }

        return md.ToString();
    }

    /// <summary>A section's title and the run it comes from: a partial run's section sits beside others from other runs.</summary>
    private static void Heading(StringBuilder md, RunReport r, string title, string scenario)
    {
        md.AppendLine("## " + title);
        md.AppendLine();
        md.AppendLine(Invariant($"Run of {r.StartedAt:yyyy-MM-dd HH:mm} UTC, commit `{r.Commit}`, {r.Machine.Cores} cores ({r.Machine.CpuModel}), {r.Profile.Name} mode; load average at the start {r.LoadByScenario.GetValueOrDefault(scenario, r.LoadAtStart)}."));
        md.AppendLine();
    }

    private static void Target(StringBuilder md, QueryTiming? t, string name, double targetMs)
    {
        if (t is null)
        {
            md.AppendLine(Invariant($"| {name} | not measured | **missed** |"));
            return;
        }

        var verdict = t.Errors > 0 ? Invariant($"**missed**: {t.Errors} of {t.Requests} requests failed") : MarkdownReport.AtMost(t.P50, targetMs, "0.0", " ms");
        md.AppendLine(Invariant($"| {name} | {t.P50:0.0} ms (p95 {t.P95:0.0} ms) | {verdict} |"));
    }

    private static string Describe(IReadOnlyDictionary<string, int> counts) =>
        string.Join(", ", counts.OrderByDescending(kv => kv.Value).Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Value:N0} {kv.Key}")));
}
