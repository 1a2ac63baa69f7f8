using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Fleet.Tests.Resilience;

/// <summary>
/// Check-in leases at the edges of a host's life, on a cluster of their own (its setting is changed, its hosts
/// deactivated and its shard's saves made to fail): a lease survives none of a lowered setting, a deactivation
/// or a refused change unrevoked, and an Api process that stops answering is waited for once, not per host.
/// Found by a review: a lowered setting ended leases early on the host's side only, so it skipped revoking them.
/// </summary>
public sealed class LeaseLifecycleTests : IAsyncLifetime
{
    private OwnCluster _own = null!;

    private IGrainFactory Grains => _own.Cluster.Client;

    public async ValueTask InitializeAsync() =>
        _own = await OwnCluster.StartAsync(new Dictionary<string, string?> { [InjectedFaults.SettingKey] = "true" });

    public ValueTask DisposeAsync() => _own.DisposeAsync();

    [Fact]
    public async Task LoweringTheLeaseToOff_StillRevokesTheLeaseGrantedBefore_AndGrantsNoMore()
    {
        var (host, hostId, secret) = await LeaseTestHosts.EnrollMacAsync(Grains);
        var (idle, _, idleSecret) = await LeaseTestHosts.EnrollMacAsync(Grains);
        using var holder = new RecordingLeaseHolder(Grains);
        var granted = (await host.ReadAsync(secret, holder.Reference)).Lease;

        SetSiloSetting("Fleet:CheckIns:QuietLease", "00:00:00");
        try
        {
            await host.RequestRefetchAsync();
            var revoked = holder.Revoked();
            var afterOff = await idle.ReadAsync(idleSecret, holder.Reference);

            Assert.NotNull(granted);
            Assert.Equal([(hostId, granted.Grant)], revoked);
            Assert.True(afterOff.NodeValid);
            Assert.Null(afterOff.Lease);
        }
        finally
        {
            SetSiloSetting("Fleet:CheckIns:QuietLease", "00:00:30");
        }
    }

    [Fact]
    public async Task Deactivation_RevokesTheLease()
    {
        var (host, hostId, secret) = await LeaseTestHosts.EnrollMacAsync(Grains);
        using var holder = new RecordingLeaseHolder(Grains);
        var granted = (await host.ReadAsync(secret, holder.Reference)).Lease;

        await Task.Delay(50, TestContext.Current.CancellationToken);
        await Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.FromMilliseconds(10), TestContext.Current.CancellationToken);
        var revoked = await holder.NextRevokedAsync(TimeSpan.FromSeconds(10));

        Assert.Equal((hostId, granted!.Grant), revoked);
    }

    [Fact]
    public async Task RefetchRefusedBecauseItsWakeUpCouldNotBeSaved_RevokesTheLeaseOfTheDroppedActivation()
    {
        var (host, hostId, secret) = await LeaseTestHosts.EnrollMacAsync(Grains);
        using var holder = new RecordingLeaseHolder(Grains);
        var granted = (await host.ReadAsync(secret, holder.Reference)).Lease;

        Exception? refused;
        using (InjectedFaults.FailTrackWake(hostId))
        {
            refused = await Record.ExceptionAsync(() => host.RequestRefetchAsync());
        }

        Assert.IsType<SiloUnavailableException>(refused);
        Assert.Equal([(hostId, granted!.Grant)], holder.Revoked());
    }

    [Fact]
    public async Task SilentHolder_IsWaitedForOnce_ThenNeitherAskedNorGrantedALease()
    {
        var (first, firstId, firstSecret) = await LeaseTestHosts.EnrollMacAsync(Grains);
        var (second, _, secondSecret) = await LeaseTestHosts.EnrollMacAsync(Grains);
        var (third, _, thirdSecret) = await LeaseTestHosts.EnrollMacAsync(Grains);
        using var holder = new RecordingLeaseHolder(Grains, silent: true);
        var firstLease = (await first.ReadAsync(firstSecret, holder.Reference)).Lease;
        var secondLease = (await second.ReadAsync(secondSecret, holder.Reference)).Lease;

        var firstRefetch = await first.RequestRefetchAsync();
        var secondRefetch = await second.RequestRefetchAsync();
        var thirdRead = await third.ReadAsync(thirdSecret, holder.Reference);

        Assert.NotNull(firstLease);
        Assert.NotNull(secondLease);
        Assert.Equal(RefetchOutcome.Started, firstRefetch.Outcome);
        Assert.Equal(RefetchOutcome.Started, secondRefetch.Outcome);
        Assert.Equal([(firstId, firstLease.Grant)], holder.Revoked());
        Assert.True(thirdRead.NodeValid);
        Assert.Null(thirdRead.Lease);
    }

    private void SetSiloSetting(string key, string value)
    {
        var silo = Assert.IsType<InProcessSiloHandle>(Assert.Single(_own.Cluster.Silos));
        var configuration = (IConfigurationRoot)silo.SiloHost.Services.GetRequiredService<IConfiguration>();
        configuration[key] = value;
        configuration.Reload();
    }
}
