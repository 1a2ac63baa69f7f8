using System.Diagnostics;
using Fleet.Contracts;
using static Fleet.Tests.Jobs.JobTestKit;

namespace Fleet.Tests.Jobs;

/// <summary>Bulk refetch jobs and the host's side of them on a test cluster over Azurite, driven through the grains.</summary>
public sealed class RefetchJobGrainTests(JobsFixture fixture) : IClassFixture<JobsFixture>
{
    private IGrainFactory Grains => fixture.Grains;

    private IRefetchJobGrain Job(string jobId) => Grains.GetGrain<IRefetchJobGrain>(jobId);

    private IHostGrain Host(string hostId) => Grains.GetGrain<IHostGrain>(hostId);

    [Fact]
    public async Task HostRequestedTwiceByOneJob_IsRefetchedOnce_EvenAfterItsRefetchEnded()
    {
        var (id, _) = (await EnrollAsync(Grains, WindowsDetails, 1))[0];
        var job = NewJobId();

        var first = await Host(id).RequestRefetchForJobAsync(job);
        var again = await Host(id).RequestRefetchForJobAsync(job);
        await Task.Delay(TimeSpan.FromSeconds(2), Aborted);
        var afterFailure = await Host(id).RequestRefetchForJobAsync(job);

        Assert.Equal(RefetchOutcome.Started, first.Outcome);
        Assert.Equal(RefetchOutcome.AlreadyRequested, again.Outcome);
        Assert.Equal(RefetchOutcome.AlreadyRequested, afterFailure.Outcome);
        Assert.Equal(RefetchStatus.Failed, afterFailure.Refetch!.Status);
        Assert.Equal([1, 1, 1], new[] { first.Refetch!.Epoch, again.Refetch!.Epoch, afterFailure.Refetch.Epoch });
    }

    [Fact]
    public async Task RefetchInFlight_IsAdoptedByTheJob_AndAPlainRefetchLaterClearsTheJob()
    {
        var mac = (await EnrollAsync(Grains, Mac15Details, 1))[0];
        var job = NewJobId();
        var operatorRefetch = await Host(mac.Id).RequestRefetchAsync();

        var adopted = await Host(mac.Id).RequestRefetchForJobAsync(job);
        var counted = await CountJobAsync(job, c => c.Pending == 1);
        await AnswerAsync(Grains, mac);
        var verified = await CountJobAsync(job, c => c.Verified == 1);
        var plain = await Host(mac.Id).RequestRefetchAsync();
        var superseded = await CountJobAsync(job, c => c.Total == 0);

        Assert.Equal(RefetchOutcome.AlreadyInFlight, adopted.Outcome);
        Assert.Equal(operatorRefetch.Refetch!.Epoch, adopted.Refetch!.Epoch);
        Assert.Equal(operatorRefetch.Refetch.Deadline, adopted.Refetch.Deadline);
        Assert.Equal(new RefetchJobCounts(1, 0, 0, 0), counted);
        Assert.Equal(new RefetchJobCounts(0, 0, 1, 0), verified);
        Assert.Equal((RefetchOutcome.Started, 2), (plain.Outcome, plain.Refetch!.Epoch));
        Assert.Equal(RefetchJobCounts.Zero, superseded);
    }

    [Fact]
    public async Task Job_AtTwentyPerSecond_SpreadsItsRequestsAndNeverExceedsTheRatePlusBurstInASecond()
    {
        var hosts = await EnrollAsync(Grains, WindowsDetails, 60);
        var job = Job(NewJobId());

        var started = await job.StartAsync(Spec(hosts.Select(h => h.Id), 20));
        var walked = await WaitForAsync(job, v => v.State != RefetchJobState.Running, TimeSpan.FromSeconds(20), "the end of the walk");
        var times = (await RefetchesAsync(Grains, hosts.Select(h => h.Id))).Select(r => r.Refetch.RequestedAt).Order().ToList();

        Assert.Equal(RefetchJobStartOutcome.Started, started.Outcome);
        Assert.Equal((60, 60, 0), (walked.Matched, walked.Requested, walked.Unknown));
        Assert.Equal(60, times.Count);
        var span = times[^1] - times[0];
        Assert.True(span >= TimeSpan.FromSeconds(2.6), $"60 hosts at 20/s with a burst of 4 need at least 2.8 s; took {span}");
        var busiest = BusiestSecond(times);
        Assert.True(busiest <= 24, $"busiest second held {busiest} requests; at most 20 + 4 expected");
    }

    [Fact]
    public async Task Cancel_FreezesTheRequestedCount_AndNoHostIsRequestedAfterwards()
    {
        var hosts = await EnrollAsync(Grains, WindowsDetails, 80);
        var job = Job(NewJobId());
        await job.StartAsync(Spec(hosts.Select(h => h.Id), 10));
        await WaitForAsync(job, v => v.Requested >= 10, TimeSpan.FromSeconds(10), "ten requests");

        var cancelled = (await job.CancelAsync())!;
        var cancelledAt = DateTimeOffset.UtcNow;
        await Task.Delay(TimeSpan.FromSeconds(2), Aborted);
        var later = (await job.GetAsync())!;
        var again = (await job.CancelAsync())!;
        var requested = await RefetchesAsync(Grains, hosts.Select(h => h.Id));

        Assert.Equal(RefetchJobState.Cancelled, cancelled.State);
        Assert.NotNull(cancelled.FinishedAt);
        Assert.InRange(cancelled.Requested, 10, 79);
        Assert.Equal((RefetchJobState.Cancelled, cancelled.Requested), (later.State, later.Requested));
        Assert.Equal(cancelled.FinishedAt, again.FinishedAt);
        Assert.Equal(cancelled.Requested, requested.Count);
        Assert.All(requested, r => Assert.True(r.Refetch.RequestedAt <= cancelledAt, $"host {r.Id} requested at {r.Refetch.RequestedAt:O}, after the cancel at {cancelledAt:O}"));
    }

    [Fact]
    public async Task Job_CompletesWhileItIsReadMoreOftenThanItCounts()
    {
        // A read counts the job's hosts when its counts are older than the progress period, as the timer does. Reads
        // coming faster than that took every count, and the timer, which completed a job only after counting it
        // itself, never did: the job stayed draining for as long as someone watched it (found as a flaky test).
        var hosts = await EnrollAsync(Grains, Mac15Details, 2);
        var job = Job(NewJobId());
        await job.StartAsync(Spec(hosts.Select(h => h.Id), 50));
        await WaitForAsync(job, v => v.Requested == 2, TimeSpan.FromSeconds(10), "two requests");
        foreach (var host in hosts)
        {
            await AnswerAsync(Grains, host);
        }

        // Each read lands just after the previous read's counts have aged past the period (250 ms in this fixture),
        // so it, not the timer, takes nearly every count.
        var reading = Stopwatch.StartNew();
        var view = (await job.GetAsync())!;
        while (view.State != RefetchJobState.Completed && reading.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(JobsFixture.ProgressPeriod, Aborted);
            view = (await job.GetAsync())!;
        }

        Assert.True(view.State == RefetchJobState.Completed, $"job {view.JobId} read every {JobsFixture.ProgressPeriod.TotalMilliseconds} ms: {Describe(view)} after {reading.Elapsed}");
        Assert.Equal(new RefetchJobCounts(0, 0, 2, 0), view.Counts);
    }

    [Fact]
    public async Task Job_FinishesOnlyWhenEveryHostIsTerminal()
    {
        var answering = await EnrollAsync(Grains, Mac15Details, 3);
        var late = (await EnrollAsync(Grains, Mac15Details, 1))[0];
        var silent = (await EnrollAsync(Grains, WindowsDetails, 1))[0];
        var job = Job(NewJobId());
        await job.StartAsync(Spec([.. answering.Select(h => h.Id), late.Id, silent.Id], 50));
        await WaitForAsync(job, v => v.Requested == 5, TimeSpan.FromSeconds(10), "five requests");

        foreach (var host in answering)
        {
            await AnswerAsync(Grains, host);
        }

        var waiting = await WaitForAsync(job, v => v.Counts == new RefetchJobCounts(1, 0, 3, 1), TimeSpan.FromSeconds(10), "3 verified, 1 failed, 1 pending");
        await Task.Delay(TimeSpan.FromSeconds(4), Aborted);
        var stillWaiting = (await job.GetAsync())!;
        await AnswerAsync(Grains, late);
        var completed = await WaitForAsync(job, v => v.State == RefetchJobState.Completed, TimeSpan.FromSeconds(10), "completed");

        Assert.Equal(RefetchJobState.Draining, waiting.State);
        Assert.Equal((RefetchJobState.Draining, 1), (stillWaiting.State, stillWaiting.Counts.Pending));
        Assert.Null(stillWaiting.FinishedAt);
        Assert.Equal(new RefetchJobCounts(0, 0, 4, 1), completed.Counts);
        Assert.Equal((5, 5, 0, 0), (completed.Matched, completed.Requested, completed.Superseded, completed.Unknown));
        Assert.NotNull(completed.FinishedAt);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HostWhoseTaggedIndexUpdateWasLost_IsFoundAgain_BeforeTheJobCompletes(bool byFilter)
    {
        var team = $"lost-{Guid.NewGuid():N}"[..20];
        var answering = await EnrollAsync(Grains, Mac15Details, 2);
        var holder = (await EnrollAsync(Grains, Mac15Details, 1))[0];
        var lost = (await EnrollAsync(Grains, WindowsDetails, 1))[0];
        List<(string Id, string Secret)> hosts = [.. answering, holder, lost];
        foreach (var (id, _) in hosts)
        {
            Assert.True(await Host(id).SetTeamAsync(team));
        }

        await WaitForIndexAsync(team, 4);
        var job = Job(NewJobId());
        var spec = byFilter
            ? new RefetchJobSpec(new HostQuery(null, null, null, 0, TeamId: team), null, 50, DateTimeOffset.UtcNow)
            : Spec(hosts.Select(h => h.Id), 50);
        var jobId = (await job.StartAsync(spec)).View.JobId;
        await WaitForAsync(job, v => v.Requested == 4, TimeSpan.FromSeconds(10), "four requests");
        foreach (var host in answering)
        {
            await AnswerAsync(Grains, host);
        }

        // The silent Windows host fails at its one-second deadline and then has nothing more to publish. Its
        // shard forgets the tagged updates, as one does when its silo dies before it saves, and holds the entry
        // from before the job asked it. The holder, still pending, keeps the job draining meanwhile.
        await CountJobAsync(jobId, c => c == new RefetchJobCounts(1, 0, 2, 1));
        var current = (await Host(lost.Id).RepublishAsync())!;
        await Task.Delay(TimeSpan.FromMilliseconds(500), Aborted);
        await Grains.GetGrain<IHostIndexShardGrain>(HostIndex.ShardOf(lost.Id))
            .PublishAsync(current with { RefetchJobId = null, Status = RefetchStatus.Verified });
        var forgotten = await CountJobAsync(jobId, c => c.Total == 3);
        await Task.Delay(TimeSpan.FromSeconds(1), Aborted);
        var holding = (await job.GetAsync())!;
        await AnswerAsync(Grains, holder);
        var completed = await WaitForAsync(job, v => v.State == RefetchJobState.Completed, TimeSpan.FromSeconds(15), "completed");

        Assert.Equal(RefetchStatus.Failed, current.Status);
        Assert.Equal(new RefetchJobCounts(1, 0, 2, 0), forgotten);
        Assert.Equal(RefetchJobState.Draining, holding.State);
        Assert.Equal((4, 0), (completed.Requested, completed.Superseded));
        Assert.Equal(new RefetchJobCounts(0, 0, 3, 1), completed.Counts);
    }

    [Fact]
    public async Task ExplicitHostIds_WithUnknownAndRepeatedIds_CountUnknownsApartAndRequestEachHostOnce()
    {
        var hosts = await EnrollAsync(Grains, WindowsDetails, 3);
        var unknown = new[] { Guid.NewGuid().ToString().ToUpperInvariant(), Guid.NewGuid().ToString().ToUpperInvariant() };
        var job = Job(NewJobId());

        var started = await job.StartAsync(Spec([.. hosts.Select(h => h.Id), hosts[0].Id, .. unknown], 100));
        var completed = await WaitForAsync(job, v => v.State == RefetchJobState.Completed, TimeSpan.FromSeconds(15), "completed");
        var refetches = await RefetchesAsync(Grains, [.. hosts.Select(h => h.Id), .. unknown]);

        Assert.Equal(5, started.View.Spec.HostIds!.Count);
        Assert.Equal(5, started.View.Matched);
        Assert.Equal((3, 2, 0), (completed.Requested, completed.Unknown, completed.Superseded));
        Assert.Equal(new RefetchJobCounts(0, 0, 0, 3), completed.Counts);
        Assert.Equal(3, refetches.Count);
        Assert.All(refetches, r => Assert.Equal(1, r.Refetch.Epoch));
    }

    [Fact]
    public async Task FilterJob_RequestsTheHostsTheIndexMatches_AndNoOthers()
    {
        var team = $"jobs-{Guid.NewGuid():N}"[..20];
        var inTeam = await EnrollAsync(Grains, WindowsDetails, 4);
        var outside = (await EnrollAsync(Grains, WindowsDetails, 1))[0];
        foreach (var (id, _) in inTeam)
        {
            Assert.True(await Host(id).SetTeamAsync(team));
        }

        await WaitForIndexAsync(team, 4);
        var job = Job(NewJobId());
        var filter = new HostQuery(null, null, null, 0, TeamId: team);

        var started = await job.StartAsync(new RefetchJobSpec(filter, null, 0, DateTimeOffset.UtcNow));
        var completed = await WaitForAsync(job, v => v.State == RefetchJobState.Completed, TimeSpan.FromSeconds(15), "completed");

        Assert.Equal((4, 50), (started.View.Matched, started.View.Spec.RatePerSecond));
        Assert.Equal((4, 4, 0), (completed.Matched, completed.Requested, completed.Unknown));
        Assert.Null((await Host(outside.Id).GetAsync())!.Refetch);
    }

    [Fact]
    public async Task Start_Again_WithTheSameSpecReturnsTheJob_WithAnotherIsAConflict()
    {
        var hosts = await EnrollAsync(Grains, WindowsDetails, 1);
        var job = Job(NewJobId());
        var spec = Spec(hosts.Select(h => h.Id), 10);

        await job.StartAsync(spec);
        var same = await job.StartAsync(spec with { HostIds = [.. spec.HostIds!] });
        var other = await job.StartAsync(spec with { RatePerSecond = 11 });

        Assert.Equal(RefetchJobStartOutcome.AlreadyStarted, same.Outcome);
        Assert.Equal(RefetchJobStartOutcome.Conflict, other.Outcome);
        Assert.Equal(10, other.View.Spec.RatePerSecond);
        Assert.Null(await Job(NewJobId()).GetAsync());
        Assert.Null(await Job(NewJobId()).CancelAsync());
    }

    private async Task<RefetchJobCounts> CountJobAsync(string jobId, Func<RefetchJobCounts, bool> done)
    {
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (true)
        {
            var counts = (await HostIndex.AskEveryShardAsync(Grains, shard => shard.CountJobAsync(jobId)))
                .Aggregate(RefetchJobCounts.Zero, (sum, c) => sum.Plus(c));
            if (done(counts) || cancellation.IsCancellationRequested)
            {
                return counts;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), Aborted);
        }
    }

    private async Task WaitForIndexAsync(string team, int count)
    {
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var query = new HostQuery(null, null, null, 0, TeamId: team);
        while ((await HostIndex.AskEveryShardAsync(Grains, shard => shard.QueryAsync(query))).Sum(p => p.Total) < count)
        {
            Assert.False(cancellation.IsCancellationRequested, $"team {team}: {count} hosts not in the index within 5 s");
            await Task.Delay(TimeSpan.FromMilliseconds(50), Aborted);
        }
    }
}
