using Fleet.Contracts;

namespace Fleet.Grains.Diagnostics;

/// <summary>No state, no work: the cost of the call itself (see <see cref="IBaselineGrain"/>).</summary>
internal sealed class BaselineGrain : Grain, IBaselineGrain
{
    public Task<bool> PingAsync(string nodeSecret) => Task.FromResult(nodeSecret.Length > 0);
}
