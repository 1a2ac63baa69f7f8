namespace Fleet.Contracts;

/// <summary>
/// Benchmark only: a grain that does nothing, keyed like a host, so the benchmark can measure what one Orleans call
/// costs a check-in on its own (the floor under any design that asks a grain per check-in). Called only by the Api's
/// baseline endpoints, which are mapped only when <c>Fleet:Benchmark:BaselineEndpoints</c> is true.
/// </summary>
[Alias("fleet.baseline")]
public interface IBaselineGrain : IGrainWithStringKey
{
    /// <summary>Answers at once; takes the node secret so the call carries what a check-in's does.</summary>
    [Alias("ping")]
    Task<bool> PingAsync(string nodeSecret);
}
