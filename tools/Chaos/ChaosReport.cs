using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fleet.Chaos;

/// <summary>The result as a console table, as JSON (<c>chaos-result.json</c>) and as the markdown section of docs/reliability.md.</summary>
internal static class ChaosReport
{
    public const string BeginMarker = "<!-- chaos:begin (written by tools/chaos --write-docs) -->";

    public const string EndMarker = "<!-- chaos:end -->";

    // Problems of a failed check repeated under the table; the rest are printed with their phase.
    private const int ProblemsRepeated = 5;

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    public static string Row(FaultResult fault) => string.Create(CultureInfo.InvariantCulture,
        $"{fault.Fault,-16} attempted {fault.Attempted,7}  failed {fault.Failed,6} ({Causes(fault.FailedBy)})  " +
        $"recovered {Recovery(fault.RecoverySeconds),8}  accepted lost {fault.Checks.Lost}  late hosts {fault.Checks.Late}  " +
        $"two states {fault.Checks.Disagreements}  counts {(fault.Checks.CountsAddUp ? "add up" : "DO NOT add up")}");

    public static string Table(ChaosRunResult run)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"{"fault",-16} {"attempted",9} {"failed",7} {"time to recover",15} {"accepted lost",13} {"late hosts",10} {"two states",10} {"counts add up",13}");
        foreach (var fault in run.Faults)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{fault.Fault,-16} {fault.Attempted,9} {fault.Failed,7} {Recovery(fault.RecoverySeconds),15} {fault.Checks.Lost,13} {fault.Checks.Late,10} " +
                $"{fault.Checks.Disagreements,10} {YesNo(fault.Checks.CountsAddUp),13}");
        }

        text.AppendLine(CultureInfo.InvariantCulture,
            $"{"whole run",-16} {"",9} {"",7} {"",15} {run.Final.Lost,13} {run.Final.Late,10} {run.Final.Disagreements,10} {YesNo(run.Final.CountsAddUp),13}");
        if (run.Passed)
        {
            text.Append("PASSED: nothing accepted was lost, no host was late, API, storage and index agreed, counts added up.");
            return text.ToString();
        }

        // Again here, so whoever sees only the end of the output (a CI log's tail) still sees why.
        text.AppendLine("FAILED: an invariant does not hold:");
        var failed = run.Faults.Select(fault => (Name: fault.Fault, fault.Checks))
            .Append((Name: "whole run", Checks: run.Final))
            .Where(check => !check.Checks.Passed);
        foreach (var (name, checks) in failed)
        {
            foreach (var problem in checks.Problems.Take(ProblemsRepeated))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {name}: {problem}");
            }

            if (checks.Problems.Count > ProblemsRepeated)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {name}: {checks.Problems.Count - ProblemsRepeated} more above");
            }
        }

        return text.ToString().TrimEnd();
    }

    public static string Json(ChaosRunResult run)
    {
        var faults = new JsonArray();
        foreach (var fault in run.Faults)
        {
            faults.Add(new JsonObject
            {
                ["fault"] = fault.Fault,
                ["description"] = fault.Description,
                ["attempted"] = fault.Attempted,
                ["failed"] = fault.Failed,
                ["failed_by"] = new JsonObject([.. fault.FailedBy.Select(cause => KeyValuePair.Create(cause.Key, (JsonNode?)cause.Value))]),
                ["recovery_seconds"] = fault.RecoverySeconds,
                ["checks"] = Checks(fault.Checks),
            });
        }

        var result = new JsonObject
        {
            ["form"] = run.Form,
            ["hosts"] = run.Hosts,
            ["silent_hosts"] = run.SilentHosts,
            ["refetch_budget_seconds"] = run.RefetchBudget.TotalSeconds,
            ["slack_seconds"] = run.Slack.TotalSeconds,
            ["faults"] = faults,
            ["final"] = Checks(run.Final),
            ["accepted_lost"] = run.Faults.Sum(fault => fault.Checks.Lost) + run.Final.Lost,
            ["late_hosts"] = run.Faults.Sum(fault => fault.Checks.Late) + run.Final.Late,
            ["passed"] = run.Passed,
        };

        return result.ToJsonString(s_json);
    }

    public static string Markdown(ChaosRunResult run, DateTimeOffset ranAt)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Run of `tools/chaos{(run.Form == "short" ? " --short" : "")}` on {ranAt:yyyy-MM-dd HH:mm} UTC: {run.Hosts} simulated hosts " +
            $"({run.SilentHosts} silent), two silos, refetch budget {run.RefetchBudget.TotalSeconds:0} s, slack {run.Slack.TotalSeconds:0} s.");
        text.AppendLine();
        text.AppendLine("| Fault | Requests attempted | Failed (by cause) | Time to recover | Accepted lost | Late hosts | Two states | Counts add up |");
        text.AppendLine("|---|---:|---|---:|---:|---:|---:|---|");
        foreach (var fault in run.Faults)
        {
            var checks = fault.Checks;
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {fault.Description} | {fault.Attempted} | {fault.Failed} ({Causes(fault.FailedBy)}) | {Recovery(fault.RecoverySeconds)} | " +
                $"{checks.Lost} | {checks.Late} | {checks.Disagreements} | {YesNo(checks.CountsAddUp)} |");
        }

        var final = run.Final;
        text.AppendLine(CultureInfo.InvariantCulture,
            $"| Whole run, checked again at the end ({final.AcceptedRefetches} refetches, {final.AcceptedJobs} jobs, {final.AcceptedProfiles} profiles accepted) " +
            $"| | | | {final.Lost} | {final.Late} | {final.Disagreements} | {YesNo(final.CountsAddUp)} |");

        return text.ToString();
    }

    /// <summary>Replaces what lies between the chaos markers of the file, or appends the section with its markers.</summary>
    public static void WriteInto(string file, string markdown)
    {
        var text = File.Exists(file) ? File.ReadAllText(file) : "";
        var section = $"{BeginMarker}\n{markdown}{EndMarker}";
        var begin = text.IndexOf(BeginMarker, StringComparison.Ordinal);
        var end = text.IndexOf(EndMarker, StringComparison.Ordinal);
        text = begin >= 0 && end > begin
            ? text[..begin] + section + text[(end + EndMarker.Length)..]
            : text + (text.Length == 0 || text.EndsWith('\n') ? "" : "\n") + section + "\n";
        File.WriteAllText(file, text);
    }

    private static JsonObject Checks(CheckResult checks) => new()
    {
        ["accepted_refetches"] = checks.AcceptedRefetches,
        ["accepted_jobs"] = checks.AcceptedJobs,
        ["accepted_profiles"] = checks.AcceptedProfiles,
        ["accepted_lost"] = checks.Lost,
        ["late_hosts"] = checks.Late,
        ["two_states"] = checks.Disagreements,
        ["counts_add_up"] = checks.CountsAddUp,
        ["problems"] = new JsonArray([.. checks.Problems.Select(problem => (JsonNode)problem)]),
    };

    private static string Causes(IReadOnlyDictionary<string, long> failedBy) =>
        failedBy.Count == 0 ? "none" : string.Join(", ", failedBy.Select(cause => $"{cause.Key}: {cause.Value}"));

    private static string YesNo(bool value) => value ? "yes" : "no";

    private static string Recovery(double? seconds) => seconds is { } value
        ? string.Create(CultureInfo.InvariantCulture, $"{value:0} s")
        : "not seen";
}
