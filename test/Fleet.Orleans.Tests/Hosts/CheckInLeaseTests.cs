using Fleet.Contracts;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Hosts;

/// <summary>
/// The host's side of quiet check-in leases, with holders in the test's cluster client: a host leases only
/// with nothing owed and to one holder at a time, and it revokes the lease, and waits for the holder, before
/// it answers a call (or runs a wake-up) that leaves it owing queries or with a new node key.
/// </summary>
public sealed class CheckInLeaseTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Refetch_RevokesTheLeaseBeforeItAnswers_AndTheNextReadGetsTheQueries()
    {
        var (host, hostId, secret) = await LeaseTestHosts.EnrollMacAsync(fixture.Grains);
        using var holder = new RecordingLeaseHolder(fixture.Grains);

        var quiet = await host.ReadAsync(secret, holder.Reference);
        var refetch = await host.RequestRefetchAsync();
        var revokedWhenAnswered = holder.Revoked();
        var owed = await host.ReadAsync(secret, holder.Reference);

        Assert.True(quiet.NodeValid);
        Assert.Empty(quiet.Queries);
        var lease = Assert.IsType<CheckInLease>(quiet.Lease);
        Assert.Equal(TimeSpan.FromSeconds(30), lease.Duration);
        Assert.Equal(RefetchOutcome.Started, refetch.Outcome);
        Assert.Equal([(hostId, lease.Grant)], revokedWhenAnswered);
        Assert.NotEmpty(owed.Queries);
        Assert.Null(owed.Lease);
    }

    [Fact]
    public async Task Read_LeasesOneHolderAtATime_AndNoneWithoutAHolderOrWithAWrongKey()
    {
        var (host, _, secret) = await LeaseTestHosts.EnrollMacAsync(fixture.Grains);
        using var first = new RecordingLeaseHolder(fixture.Grains);
        using var second = new RecordingLeaseHolder(fixture.Grains);

        var noHolder = await host.ReadAsync(secret);
        var wrongKey = await host.ReadAsync("not-the-secret", first.Reference);
        var toFirst = await host.ReadAsync(secret, first.Reference);
        var toSecond = await host.ReadAsync(secret, second.Reference);
        var renewed = await host.ReadAsync(secret, first.Reference);

        Assert.Null(noHolder.Lease);
        Assert.False(wrongKey.NodeValid);
        Assert.Null(wrongKey.Lease);
        Assert.NotNull(toFirst.Lease);
        Assert.True(toSecond.NodeValid);
        Assert.Null(toSecond.Lease);
        Assert.True(renewed.Lease!.Grant > toFirst.Lease.Grant, $"renewal grant {renewed.Lease.Grant} not after {toFirst.Lease.Grant}");
    }

    [Fact]
    public async Task Enroll_Again_RevokesTheLeaseOfTheOldKey()
    {
        var (host, hostId, secret) = await LeaseTestHosts.EnrollMacAsync(fixture.Grains);
        using var holder = new RecordingLeaseHolder(fixture.Grains);
        var quiet = await host.ReadAsync(secret, holder.Reference);

        await host.EnrollAsync(new EnrollRequest(LeaseTestHosts.Mac14));

        Assert.Equal([(hostId, quiet.Lease!.Grant)], holder.Revoked());
    }

    [Fact]
    public async Task Read_WhileARefetchIsInFlight_HandsOutTheQueriesAndGrantsNoLease()
    {
        var (host, _, secret) = await LeaseTestHosts.EnrollMacAsync(fixture.Grains);
        using var holder = new RecordingLeaseHolder(fixture.Grains);
        await host.RequestRefetchAsync();

        var first = await host.ReadAsync(secret, holder.Reference);
        var again = await host.ReadAsync(secret, holder.Reference);

        Assert.NotEmpty(first.Queries);
        Assert.Null(first.Lease);
        Assert.Equal(first.Queries.Keys.Order(StringComparer.Ordinal), again.Queries.Keys.Order(StringComparer.Ordinal));
        Assert.Null(again.Lease);
        Assert.Empty(holder.Revoked());
    }
}
