using Orleans.TestingHost;

namespace Fleet.Tests.Infrastructure;

/// <summary>One cluster and one Api for the whole test assembly; tests isolate themselves by using fresh host ids.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; } = FleetTestCluster.Create();

    public ApiFactory Api { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async ValueTask InitializeAsync()
    {
        await Cluster.DeployAsync();
        Api = new ApiFactory(Cluster);
    }

    public async ValueTask DisposeAsync()
    {
        await Api.DisposeAsync();
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}
