using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;

namespace Fleet.Tests.Resilience;

/// <summary>A cluster and an Api of a test's own, for tests that kill silos or cut storage off under them.</summary>
public sealed class OwnCluster : IAsyncDisposable
{
    private OwnCluster(TestCluster cluster) => Cluster = cluster;

    public TestCluster Cluster { get; }

    public ApiFactory Api { get; private set; } = null!;

    public static async Task<OwnCluster> StartAsync(IDictionary<string, string?>? overrides = null, int silos = 1)
    {
        var own = new OwnCluster(FleetTestCluster.Create(overrides, silos));
        await own.Cluster.DeployAsync();
        own.Api = new ApiFactory(own.Cluster);

        return own;
    }

    public async ValueTask DisposeAsync()
    {
        await Api.DisposeAsync();
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}
