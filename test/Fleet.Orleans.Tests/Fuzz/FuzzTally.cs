using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Fuzz;

/// <summary>
/// Counts the inputs each endpoint was sent and the answers it gave, and rewrites the summary files after every
/// fuzz test, so the files always hold everything the run has tried so far: <c>TestResults/fuzz/summary.json</c>
/// and <c>summary.md</c> under the repository root (or <c>FLEET_FUZZ_SUMMARY_DIR</c>).
/// </summary>
public static class FuzzTally
{
    public const string SummaryDirVariable = "FLEET_FUZZ_SUMMARY_DIR";

    private static readonly ConcurrentDictionary<string, EndpointCount> s_counts = new(StringComparer.Ordinal);
    private static readonly Lock s_writeLock = new();
    private static readonly DateTimeOffset s_started = DateTimeOffset.UtcNow;

    public static string SummaryDirectory =>
        Environment.GetEnvironmentVariable(SummaryDirVariable) is { Length: > 0 } dir
            ? dir
            : Path.Combine(TestRepository.Root(), "TestResults", "fuzz");

    public static void Count(string endpoint, HttpStatusCode status) =>
        s_counts.GetOrAdd(endpoint, _ => new EndpointCount()).Add((int)status);

    /// <summary>Writes the summary files and returns the path of the JSON one.</summary>
    public static string Write()
    {
        lock (s_writeLock)
        {
            var rows = s_counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Value.Row(c.Key)).ToList();
            var summary = new FuzzSummary(
                s_started,
                DateTimeOffset.UtcNow,
                FuzzSettings.Iterations,
                rows.Sum(r => r.Inputs),
                rows.Sum(r => r.ServerErrors),
                rows);

            Directory.CreateDirectory(SummaryDirectory);
            var json = Path.Combine(SummaryDirectory, "summary.json");
            File.WriteAllText(json, JsonSerializer.Serialize(summary, s_json));
            File.WriteAllText(Path.Combine(SummaryDirectory, "summary.md"), Markdown(summary));

            return json;
        }
    }

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    private static string Markdown(FuzzSummary summary)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Fuzz run {summary.StartedAt:u} to {summary.WrittenAt:u}, {summary.IterationsPerProperty} inputs per property.");
        text.AppendLine();
        text.AppendLine("| Endpoint | Inputs | 2xx | 4xx | 5xx | Statuses seen |");
        text.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var row in summary.Endpoints)
        {
            var statuses = string.Join(", ", row.Statuses.Select(s => $"{s.Key}×{s.Value}"));
            text.AppendLine(CultureInfo.InvariantCulture, $"| `{row.Endpoint}` | {row.Inputs} | {row.Success} | {row.ClientErrors} | {row.ServerErrors} | {statuses} |");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"| **total** | {summary.Inputs} | | | {summary.ServerErrors} | |");

        return text.ToString();
    }

    private sealed class EndpointCount
    {
        private readonly ConcurrentDictionary<int, int> _statuses = new();

        public void Add(int status) => _statuses.AddOrUpdate(status, 1, (_, n) => n + 1);

        public EndpointRow Row(string endpoint)
        {
            var statuses = new SortedDictionary<int, int>(_statuses);

            return new EndpointRow(
                endpoint,
                statuses.Values.Sum(),
                statuses.Where(s => s.Key is >= 200 and < 300).Sum(s => s.Value),
                statuses.Where(s => s.Key is >= 400 and < 500).Sum(s => s.Value),
                statuses.Where(s => s.Key >= 500).Sum(s => s.Value),
                statuses);
        }
    }
}

public sealed record FuzzSummary(
    DateTimeOffset StartedAt,
    DateTimeOffset WrittenAt,
    int IterationsPerProperty,
    int Inputs,
    int ServerErrors,
    IReadOnlyList<EndpointRow> Endpoints);

public sealed record EndpointRow(
    string Endpoint, int Inputs, int Success, int ClientErrors, int ServerErrors, IReadOnlyDictionary<int, int> Statuses);
