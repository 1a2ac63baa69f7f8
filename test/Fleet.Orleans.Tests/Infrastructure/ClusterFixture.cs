using Orleans.TestingHost;

namespace Fleet.Tests.Infrastructure;

/// <summary>One cluster and one Api for the whole test assembly; tests isolate themselves by using fresh host ids.</summary>
public class ClusterFixture : IAsyncLifetime
{
    public ClusterFixture()
        : this(null)
    {
    }

    /// <summary>A cluster of its own with <paramref name="overrides"/> on top of <see cref="FleetTestCluster.DefaultSettings"/>.</summary>
    protected ClusterFixture(IDictionary<string, string?>? overrides) => Cluster = FleetTestCluster.Create(overrides);

    public TestCluster Cluster { get; }

    public ApiFactory Api { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async ValueTask InitializeAsync()
    {
        await Cluster.DeployAsync();
        Api = new ApiFactory(Cluster);

        // Start the in-memory Api once, here: its start-up is not thread-safe across test classes, and a
        // harness that cannot reach the cluster should fail now rather than hang every test.
        await Task.Run(() => Api.Server).WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        await Api.DisposeAsync();
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
