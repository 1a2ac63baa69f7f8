using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;
using static Fleet.Tests.Jobs.JobTestKit;

namespace Fleet.Tests.Jobs;

/// <summary>
/// The silo running a job killed without warning halfway through its walk, then replaced. The job's reminder
/// brings it back on the new silo from its stored cursor and batch, and no host is refetched twice.
/// </summary>
public sealed class JobRestartTests : IAsyncLifetime
{
    private readonly TestCluster _cluster = FleetTestCluster.Create(JobsFixture.Settings(clusterRate: 5000));

    public async ValueTask InitializeAsync() => await _cluster.DeployAsync();

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task KilledSilo_MidJob_TheJobResumesAndCompletes_WithEveryHostRefetchedOnce()
    {
        var hosts = await EnrollAsync(_cluster.Client, WindowsDetails, 60);
        var jobId = NewJobId();
        await _cluster.Client.GetGrain<IRefetchJobGrain>(jobId).StartAsync(Spec(hosts.Select(h => h.Id), 15));
        var before = await WaitForAsync(_cluster.Client.GetGrain<IRefetchJobGrain>(jobId), v => v.Requested >= 15, TimeSpan.FromSeconds(10), "15 requests");

        await _cluster.KillSiloAsync(_cluster.Silos[0], Aborted);
        await _cluster.StartAdditionalSiloAsync();
        await _cluster.KillClientAsync();
        await _cluster.InitializeClientAsync(Aborted);

        // Nobody calls the job: only its reminder can bring it back.
        await Task.Delay(TimeSpan.FromSeconds(12), Aborted);
        var job = _cluster.Client.GetGrain<IRefetchJobGrain>(jobId);
        var completed = await WaitForAsync(job, v => v.State == RefetchJobState.Completed, TimeSpan.FromSeconds(40), "completed after the restart");
        var refetches = await RefetchesAsync(_cluster.Client, hosts.Select(h => h.Id));

        Assert.True(before.Requested < 60, $"the job had requested all {before.Requested} hosts before the kill; nothing left to resume");
        Assert.Equal((60, 60, 0, 0), (completed.Matched, completed.Requested, completed.Unknown, completed.Superseded));
        Assert.Equal(new RefetchJobCounts(0, 0, 0, 60), completed.Counts);
        Assert.Equal(60, refetches.Count);
        Assert.All(refetches, r => Assert.True(r.Refetch.Epoch == 1, $"host {r.Id}: refetched {r.Refetch.Epoch} times by one job"));
    }
}
