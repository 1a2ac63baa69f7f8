using System.Globalization;
using System.Text.Json;

namespace Fleet.AgentSimulator;

/// <summary>
/// Writes <see cref="RequestCounters"/> as one JSON line a second to the <c>--stats</c> file, so that a chaos
/// driver can tell, second by second, when requests started failing and when they succeeded again.
/// </summary>
public static class RequestStats
{
    public static async Task WriteEverySecondAsync(
        string path, RequestCounters counters, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                Append(path, counters, time);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: the caller appends the last line.
        }
    }

    /// <summary>Appends the counts now as one line; the line is written whole, so a reader never sees half of one.</summary>
    public static void Append(string path, RequestCounters counters, TimeProvider time)
    {
        var line = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["at"] = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
            ["attempted"] = counters.Attempted,
            ["succeeded"] = counters.Succeeded,
            ["failed"] = counters.Failures,
        });
        File.AppendAllText(path, line + "\n");
    }

    public static string Describe(RequestCounters counters)
    {
        var failures = counters.Failures.Count == 0
            ? "none"
            : string.Join(", ", counters.Failures.Select(failure => $"{failure.Key} {failure.Value}"));

        return $"attempted {counters.Attempted}, succeeded {counters.Succeeded}, failed {counters.Failed} ({failures})";
    }
}
