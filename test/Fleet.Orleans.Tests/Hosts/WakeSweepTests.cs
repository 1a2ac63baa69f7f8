using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Core.Internal;
using Orleans.TestingHost;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Hosts;

/// <summary>
/// Hosts keep no reminder of their own: a wake-up lives in the host's index entry and the shard's sweep
/// wakes the host when it is overdue. These tests watch only the index and the reminder table, which do
/// not activate the host, so only the sweep can have woken it.
/// </summary>
public sealed class WakeSweepTests(WakeSweepTests.Fixture fixture) : IClassFixture<WakeSweepTests.Fixture>
{
    // Windows hosts: one attempt, a 1 s pickup timeout; the sweep reminder ticks every 2 s. A reminder written
    // straight into the table is seen at the reminder service's next refresh (one minute by default).
    public sealed class Fixture() : ClusterFixture(new Dictionary<string, string?>
    {
        ["Fleet:Cluster:ReminderRefreshPeriod"] = "00:00:02",
    });

    private static readonly TimeSpan s_sweepWait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task DeactivatedHost_WithARefetchPending_IsWokenByItsShardAndFailsAtItsDeadline()
    {
        var hostId = await EnrollWindowsAsync();
        var host = fixture.Grains.GetGrain<IHostGrain>(hostId);
        var refetch = (await host.RequestRefetchAsync()).Refetch!;
        await host.Cast<IGrainManagementExtension>().DeactivateOnIdle(TestAborted);

        var failed = await EventuallyAsync(
            () => EntryAsync(hostId),
            e => e?.Status == RefetchStatus.Failed,
            $"host {hostId} failed in the index",
            s_sweepWait);

        Assert.Equal(RefetchStatus.Pending, refetch.Status);
        Assert.True(failed!.StatusChangedAt >= refetch.Deadline, $"failed at {failed.StatusChangedAt:O}, before the deadline {refetch.Deadline:O}");
        Assert.Equal(ReasonCodes.AgentSilent, failed.Reason?.Code);
        Assert.Null(failed.WakeAt);
    }

    [Fact]
    public async Task StoredReminderFromAnEarlierVersion_WakesTheHostOnceAndIsRemoved()
    {
        var hostId = await EnrollWindowsAsync();
        var silo = Assert.IsType<InProcessSiloHandle>(Assert.Single(fixture.Cluster.Silos));
        var reminders = silo.SiloHost.Services.GetRequiredService<IReminderTable>();
        var grainId = fixture.Grains.GetGrain<IHostGrain>(hostId).GetGrainId();
        await reminders.UpsertRow(new ReminderEntry
        {
            GrainId = grainId,
            ReminderName = "refetch-deadline",
            StartAt = DateTime.UtcNow,
            Period = TimeSpan.FromSeconds(2),
        }, TestAborted);

        var left = await EventuallyAsync(
            async () => (await reminders.ReadRows(grainId, TestAborted)).Reminders.Select(r => r.ReminderName).ToList(),
            names => !names.Contains("refetch-deadline"),
            $"host {hostId}'s legacy reminder removed",
            s_sweepWait);

        Assert.Empty(left);
        Assert.Equal(RefetchStatus.None, (await EntryAsync(hostId))!.Status);
    }

    private async Task<HostIndexEntry?> EntryAsync(string hostId) =>
        (await fixture.Grains.GetGrain<IHostIndexShardGrain>(HostIndex.ShardOf(hostId)).FindAsync(hostId)).SingleOrDefault();

    private async Task<string> EnrollWindowsAsync()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var details = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["os_version"] = new Dictionary<string, string> { ["platform"] = "windows", ["version"] = "10.0.22631", ["name"] = "Windows 11" },
        };
        await fixture.Grains.GetGrain<IHostGrain>(hostId).EnrollAsync(new EnrollRequest(details));

        return hostId;
    }
}
