using Fleet.Contracts;
using static Fleet.Tests.Jobs.JobTestKit;

namespace Fleet.Tests.Jobs;

/// <summary>Jobs asking for more than the cluster's cap, measured from the hosts' request times.</summary>
public sealed class ClusterCapTests(CappedJobsFixture fixture) : IClassFixture<CappedJobsFixture>
{
    [Fact]
    public async Task TwoJobsAtAHundredPerSecond_UnderACapOfThirty_StayUnderTheCapTogether()
    {
        var first = await EnrollAsync(fixture.Grains, WindowsDetails, 45);
        var second = await EnrollAsync(fixture.Grains, WindowsDetails, 45);
        var jobs = new[] { fixture.Grains.GetGrain<IRefetchJobGrain>(NewJobId()), fixture.Grains.GetGrain<IRefetchJobGrain>(NewJobId()) };

        await Task.WhenAll(jobs[0].StartAsync(Spec(first.Select(h => h.Id), 100)), jobs[1].StartAsync(Spec(second.Select(h => h.Id), 100)));
        var halfway = await WaitForAsync(jobs[0], v => v.Requested >= 15, TimeSpan.FromSeconds(20), "15 requests");
        var otherHalfway = (await jobs[1].GetAsync())!;
        foreach (var job in jobs)
        {
            await WaitForAsync(job, v => v.State != RefetchJobState.Running, TimeSpan.FromSeconds(30), "the end of the walk");
        }

        var times = (await RefetchesAsync(fixture.Grains, first.Concat(second).Select(h => h.Id))).Select(r => r.Refetch.RequestedAt).Order().ToList();

        // The cap's burst is a fifth of a second's worth: 6.
        Assert.Equal(90, times.Count);
        var span = times[^1] - times[0];
        Assert.True(span >= TimeSpan.FromSeconds(2.6), $"90 requests under 30/s with a burst of 6 need at least 2.8 s; took {span}");
        var busiest = BusiestSecond(times);
        Assert.True(busiest <= CappedJobsFixture.ClusterRate + 6, $"busiest second held {busiest} requests; at most 30 + 6 expected");
        Assert.True(otherHalfway.Requested >= 5, $"while the first job reached {halfway.Requested}, the second had only {otherHalfway.Requested}: not a fair share");
    }
}
