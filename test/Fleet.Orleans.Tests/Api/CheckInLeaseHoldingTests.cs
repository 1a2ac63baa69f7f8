using Fleet.Api.Agents;
using Fleet.Api.Diagnostics;
using Fleet.Api.Hosting;
using Fleet.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Api;

/// <summary>
/// The Api's book of leases on its own, on a fake clock: what it covers, for how long, and the order problems
/// a revocation racing its grant can cause.
/// </summary>
public sealed class CheckInLeaseHoldingTests : IDisposable
{
    private const string Host = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services;
    private readonly CheckInLeases _leases;

    public CheckInLeaseHoldingTests()
    {
        _services = new ServiceCollection().AddMetrics().AddSingleton<ApiMetrics>().BuildServiceProvider();
        _leases = new CheckInLeases(
            _services, Options.Create(new ClusterClientOptions()), _time, _services.GetRequiredService<ApiMetrics>(), NullLogger<CheckInLeases>.Instance);
    }

    private ICheckInLeaseHolder Holder => _leases;

    private IClusterConnectionStatusObserver Connection => _leases;

    [Fact]
    public void Lease_CoversItsKeyUntilItsDurationFromTheAsking_AndNoOtherKey()
    {
        var askedAt = _leases.Now();
        _time.Advance(TimeSpan.FromSeconds(1));
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 10, TimeSpan.FromSeconds(30)), askedAt);

        var covered = _leases.Covers(Host, "secret");
        var otherKey = _leases.Covers(Host, "other");
        _time.Advance(TimeSpan.FromSeconds(28.9));
        var lastMoment = _leases.Covers(Host, "secret");
        _time.Advance(TimeSpan.FromSeconds(0.1));
        var lapsed = _leases.Covers(Host, "secret");

        Assert.True(covered);
        Assert.False(otherKey);
        Assert.True(lastMoment);
        Assert.False(lapsed);
        Assert.Equal(0, _leases.Count);
    }

    [Fact]
    public async Task Revocation_ThatOvertakesItsGrant_RefusesIt_ButNotALaterGrant()
    {
        await Holder.RevokeAsync(Host, grant: 10);
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 10, TimeSpan.FromSeconds(30)), _leases.Now());
        var afterLateGrant = _leases.Covers(Host, "secret");
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 11, TimeSpan.FromSeconds(30)), _leases.Now());
        var afterNewGrant = _leases.Covers(Host, "secret");

        Assert.False(afterLateGrant);
        Assert.True(afterNewGrant);
    }

    [Fact]
    public async Task Revocation_EndsTheLeaseHeld_AndAnOlderGrantArrivingLateDoesNotReplaceANewerOne()
    {
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 10, TimeSpan.FromSeconds(30)), _leases.Now());
        await Holder.RevokeAsync(Host, grant: 10);
        var afterRevoke = _leases.Covers(Host, "secret");
        _leases.Hold(Host, "new", new CheckInLease(Grant: 12, TimeSpan.FromSeconds(30)), _leases.Now());
        _leases.Hold(Host, "old", new CheckInLease(Grant: 11, TimeSpan.FromSeconds(30)), _leases.Now());

        Assert.False(afterRevoke);
        Assert.True(_leases.Covers(Host, "new"));
        Assert.False(_leases.Covers(Host, "old"));
    }

    [Fact]
    public void LosingAGateway_DropsEveryLease_GainingOneDoesNot()
    {
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 10, TimeSpan.FromSeconds(30)), _leases.Now());
        Connection.NotifyGatewayCountChanged(3, 2, connectionRecovered: false);
        var afterGain = _leases.Covers(Host, "secret");

        Connection.NotifyGatewayCountChanged(2, 3, connectionRecovered: false);

        Assert.True(afterGain);
        Assert.False(_leases.Covers(Host, "secret"));
    }

    [Fact]
    public async Task LosingAGateway_KeepsTheMarks_AndRefusesAGrantAskedBeforeIt()
    {
        var askedBeforeDrop = _leases.Now();
        await Holder.RevokeAsync(Host, grant: 10);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Connection.NotifyClusterConnectionLost();
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 10, TimeSpan.FromSeconds(30)), askedBeforeDrop);
        _leases.Hold("OTHER-HOST", "secret", new CheckInLease(Grant: 11, TimeSpan.FromSeconds(30)), askedBeforeDrop);
        var revokedGrantCovers = _leases.Covers(Host, "secret");
        var earlierAskCovers = _leases.Covers("OTHER-HOST", "secret");
        _time.Advance(TimeSpan.FromMilliseconds(1));
        _leases.Hold("OTHER-HOST", "secret", new CheckInLease(Grant: 12, TimeSpan.FromSeconds(30)), _leases.Now());

        Assert.False(revokedGrantCovers);
        Assert.False(earlierAskCovers);
        Assert.True(_leases.Covers("OTHER-HOST", "secret"));
    }

    [Fact]
    public async Task RevocationMark_OutlivesTheClientsWaitForAnAnswer_ThenGoes()
    {
        var askedAt = _leases.Now();
        await Holder.RevokeAsync(Host, grant: 10);
        _time.Advance(TimeSpan.FromSeconds(59));
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 10, TimeSpan.FromMinutes(5)), askedAt);
        var withinMarkLife = _leases.Covers(Host, "secret");
        _time.Advance(TimeSpan.FromSeconds(2));
        _leases.Hold(Host, "secret", new CheckInLease(Grant: 10, TimeSpan.FromMinutes(5)), askedAt);

        Assert.False(withinMarkLife);
        Assert.True(_leases.Covers(Host, "secret"));
    }

    public void Dispose()
    {
        _leases.Dispose();
        _services.Dispose();
    }
}
