using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Fuzz;

/// <summary>
/// A cluster of its own for the fuzz suite: generated input that happens to be valid enrolls hosts and starts
/// jobs, which must not show up in the counts other tests read. The fuzz classes share it one after another.
/// </summary>
public sealed class FuzzFixture() : ClusterFixture(null);

[CollectionDefinition(Name)]
public sealed class FuzzCollection : ICollectionFixture<FuzzFixture>
{
    public const string Name = "Fuzz";
}

/// <summary>How many inputs each fuzzed endpoint gets, and the seed CsCheck starts from.</summary>
public static class FuzzSettings
{
    public const string IterationsVariable = "FLEET_FUZZ_ITERATIONS";
    public const string SeedVariable = "FLEET_FUZZ_SEED";

    /// <summary>The short form CI runs: enough to cross every generator branch a few times per endpoint.</summary>
    public const int ShortIterations = 60;

    /// <summary>The long form, chosen by <c>FLEET_TEST_PROFILE=fuzz-long</c> (what <c>tools/fuzz</c> sets).</summary>
    public const int LongIterations = 1500;

    public static int Iterations
    {
        get
        {
            if (int.TryParse(Environment.GetEnvironmentVariable(IterationsVariable), out var count) && count > 0)
            {
                return count;
            }

            return string.Equals(Environment.GetEnvironmentVariable("FLEET_TEST_PROFILE"), "fuzz-long", StringComparison.OrdinalIgnoreCase)
                ? LongIterations
                : ShortIterations;
        }
    }

    /// <summary>A CsCheck seed to replay one run exactly; null starts from a fresh random seed.</summary>
    public static string? Seed => Environment.GetEnvironmentVariable(SeedVariable) is { Length: > 0 } seed ? seed : null;
}
