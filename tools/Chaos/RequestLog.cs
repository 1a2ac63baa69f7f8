using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Fleet.Chaos;

/// <summary>One request's outcome: when it ended and, for a failure, its cause (HTTP status, timeout, connection).</summary>
internal readonly record struct Outcome(DateTimeOffset At, string? Failure);

/// <summary>Outcomes of the operator requests the suite sends, in the order they ended. Safe from any thread.</summary>
internal sealed class RequestLog
{
    private readonly ConcurrentQueue<Outcome> _outcomes = new();

    public void Add(DateTimeOffset at, string? failure) => _outcomes.Enqueue(new Outcome(at, failure));

    public IEnumerable<Outcome> Between(DateTimeOffset from, DateTimeOffset to) =>
        _outcomes.Where(outcome => outcome.At >= from && outcome.At < to);
}

/// <summary>
/// The cumulative request counts the simulator appends each second to its <c>--stats</c> file, read back as the
/// outcomes of each second: attempted, and failed by cause.
/// </summary>
internal static class SimulatorStats
{
    public sealed record Line(DateTimeOffset At, long Attempted, long Succeeded, IReadOnlyDictionary<string, long> Failed);

    public static List<Line> Read(string path)
    {
        var lines = new List<Line>();
        if (!File.Exists(path))
        {
            return lines;
        }

        foreach (var text in File.ReadAllLines(path))
        {
            if (JsonNode.Parse(text) is not JsonObject line)
            {
                continue;
            }

            var failed = (line["failed"] as JsonObject ?? [])
                .ToDictionary(entry => entry.Key, entry => entry.Value!.GetValue<long>(), StringComparer.Ordinal);
            lines.Add(new Line(
                DateTimeOffset.Parse(line["at"]!.GetValue<string>(), CultureInfo.InvariantCulture),
                line["attempted"]!.GetValue<long>(),
                line["succeeded"]!.GetValue<long>(),
                failed));
        }

        return lines;
    }

    /// <summary>The requests that ended between two lines: attempted, and failed by cause, stamped with the later line.</summary>
    public static IEnumerable<(DateTimeOffset At, long Attempted, Dictionary<string, long> Failed)> Seconds(List<Line> lines)
    {
        for (var i = 1; i < lines.Count; i++)
        {
            var (before, after) = (lines[i - 1], lines[i]);
            var failed = after.Failed
                .Select(cause => (cause.Key, Count: cause.Value - before.Failed.GetValueOrDefault(cause.Key)))
                .Where(cause => cause.Count > 0)
                .ToDictionary(cause => cause.Key, cause => cause.Count, StringComparer.Ordinal);

            yield return (after.At, after.Attempted - before.Attempted, failed);
        }
    }
}
