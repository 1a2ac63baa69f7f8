using System.Text.Json.Serialization;
using Fleet.Bench.Scenarios;

namespace Fleet.Bench.Report;

/// <summary>Everything one run measured, for the Markdown report and the JSON beside it.</summary>
internal sealed class RunReport(BenchOptions options)
{
    /// <summary>For reading a saved results.json; <see cref="Options"/> is set afterwards.</summary>
    [JsonConstructor]
    public RunReport()
        : this(null!)
    {
    }

    /// <summary>Not serialized: it holds the storage connection string.</summary>
    [JsonIgnore]
    public BenchOptions Options { get; set; } = options;

    // Read back from results.json before Options is set, hence the fallbacks. Written, never read back in place: the
    // serializer's Populate handling would otherwise fill the fallback, the shared BenchProfile.Full, with the saved
    // run's profile; a render reads the saved profile itself.
    [JsonObjectCreationHandling(JsonObjectCreationHandling.Replace)]
    public BenchProfile Profile => Options?.Profile ?? BenchProfile.Full;

    public string Commit => Options?.Commit ?? "unknown";

    public required MachineInfo Machine { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public required string LoadAtStart { get; init; }

    public required IReadOnlyDictionary<string, string> Settings { get; init; }

    public TimeSpan Duration { get; set; }

    public string LoadAtEnd { get; set; } = string.Empty;

    public Dictionary<string, string> LoadByScenario { get; } = new(StringComparer.Ordinal);

    public CheckInResult? CheckIns { get; set; }

    public CycleResult? Cycles { get; set; }

    public ScaleResult? Scale { get; set; }

    public IReadOnlyList<DeadlineRound> Deadlines { get; set; } = [];

    public SteadyResult? Steady { get; set; }

    public FleetQueryResult? FleetQueries { get; set; }

    public JobsResult? Jobs { get; set; }

    public List<InvariantCheck> Invariants { get; } = [];

    /// <summary>A scenario that could not finish, and why; the report says so instead of leaving a gap.</summary>
    public Dictionary<string, string> Failures { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Every invariant measured held, and some were measured, unless the run chose scenarios (<c>--only</c>) that measure
    /// none, such as <c>--only scale</c>.
    /// </summary>
    public bool InvariantsHold => Invariants.All(i => i.Passed) && (Invariants.Count > 0 || Options?.Only.Count > 0);
}
