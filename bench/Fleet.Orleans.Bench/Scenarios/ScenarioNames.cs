namespace Fleet.Bench.Scenarios;

/// <summary>The scenarios <c>bench/run --only</c> can run by themselves; each writes its own section of the fleet report.</summary>
internal static class ScenarioNames
{
    /// <summary>Scenario 1 alone, to compare the check-in path before and after a change; writes no docs.</summary>
    public const string CheckIn = "check-in";

    public const string FleetQueries = "fleet-queries";
    public const string Jobs = "jobs";

    /// <summary>Scenario 3 (scale and memory) with its idle collection, without the steady fleet that runs between them.</summary>
    public const string Scale = "scale";

    /// <summary>
    /// Scenario 5 (steady fleet) on scenario 3's hosts, then scenario 3's idle collection of them: every host checked in,
    /// so each owes a last-seen write on its way out.
    /// </summary>
    public const string Steady = "steady-fleet";

    public static IReadOnlySet<string> Partial { get; } = new HashSet<string>(StringComparer.Ordinal) { CheckIn, FleetQueries, Jobs, Scale, Steady };
}
