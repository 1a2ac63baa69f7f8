using System.Globalization;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Scenarios;

/// <summary>What the HTTP scenarios check alike: the commands of a Mac's session, the silo's timing, and instants read from JSON.</summary>
internal static class ScenarioChecks
{
    /// <summary>A grain timer or reminder acts within this much of a deadline on a loaded test machine.</summary>
    public static readonly TimeSpan TimerSlack = TimeSpan.FromSeconds(2);

    /// <summary>The session handled exactly these commands, in this order, with these answers.</summary>
    public static void ExpectCommands(HttpTestMac mac, IReadOnlyList<HandledCommand> session, params (string RequestType, MacAnswer Answer)[] expected)
    {
        var actual = session.Select(h => (h.Command.RequestType, h.Answer)).ToArray();
        Assert.True(actual.SequenceEqual(expected),
            $"{mac}: session handled [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
    }

    /// <summary>Something the silo timed (<paramref name="what"/>) happened at <paramref name="due"/>: not before it, and not long after.</summary>
    public static void ExpectOnTime(HttpTestMac mac, string what, DateTimeOffset actedAt, DateTimeOffset due)
    {
        var lateness = actedAt - due;
        Assert.True(lateness >= TimeSpan.FromMilliseconds(-50) && lateness <= TimerSlack,
            $"{mac}: {what} at {actedAt:O}, {lateness.TotalMilliseconds:F0} ms after it was due at {due:O}");
    }

    public static DateTimeOffset Instant(JsonNode? node, string field) =>
        DateTimeOffset.Parse(Text(node, field)!, CultureInfo.InvariantCulture);
}
