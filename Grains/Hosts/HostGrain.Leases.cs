using Fleet.Contracts;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Hosts;

/// <summary>
/// Quiet check-in leases: with nothing owed, the host lets the Api process that asked answer its agent's
/// <c>distributed/read</c> on its own for a while (<see cref="Osquery.CheckInOptions.QuietLease"/>), so a
/// fleet's idle check-ins cost no grain call. Every call the host answers, and every wake-up, ends with a
/// check: if the host now owes queries, or its node key changed, it revokes the lease and waits for the
/// holder's answer first. A revocation that fails leaves the lease to lapse, which delays the pickup by at
/// most the lease; so does a silo crash, which takes the host's memory of the lease with it.
/// </summary>
internal sealed partial class HostGrain : IIncomingGrainCallFilter
{
    private static readonly TimeSpan s_revokeTimeout = TimeSpan.FromSeconds(2);

    // The Api process holding this host's lease (null: none), and the grant's id: the ticks of this silo's
    // clock when it was granted, so a later grant always has a larger id, across activations too.
    private ICheckInLeaseHolder? _leaseHolder;
    private long _leaseGrant;

    async Task IIncomingGrainCallFilter.Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        finally
        {
            if (_leaseHolder is not null)
            {
                await KeepLeaseTrueAsync();
            }
        }
    }

    /// <summary>The answer to a check-in with nothing owed: with a lease for <paramref name="holder"/> when one can be granted.</summary>
    private DistributedReadResult NothingOwed(ICheckInLeaseHolder? holder)
    {
        var duration = checkInOptions.CurrentValue.QuietLease;
        if (holder is null || duration <= TimeSpan.Zero || _aheadOfStorage)
        {
            return DistributedReadResult.NothingOwed;
        }

        var now = time.GetUtcNow();

        // One holder at a time: another Api process keeps asking until the current lease lapses.
        if (_leaseHolder is { } current && !LeaseLapsed(now) && current.GetGrainId() != holder.GetGrainId())
        {
            return DistributedReadResult.NothingOwed;
        }

        _leaseHolder = leaseHolders.Intern(holder);
        _leaseGrant = Math.Max(now.UtcTicks, _leaseGrant + 1);
        metrics.LeaseGranted();

        return DistributedReadResult.NothingOwed with { Lease = new CheckInLease(_leaseGrant, duration) };
    }

    /// <summary>Revokes the lease if a quiet answer would now be wrong; forgets it once it has lapsed.</summary>
    private async Task KeepLeaseTrueAsync()
    {
        if (_leaseHolder is null)
        {
            return;
        }

        if (LeaseLapsed(time.GetUtcNow()))
        {
            _leaseHolder = null;
        }
        else if (State.Refetch is { OsqueryOwed: true } || _aheadOfStorage)
        {
            await RevokeLeaseAsync();
        }
    }

    /// <summary>Ends the lease, if one is held, waiting for the holder's answer.</summary>
    private async Task RevokeLeaseAsync()
    {
        if (_leaseHolder is not { } holder)
        {
            return;
        }

        _leaseHolder = null;
        if (LeaseLapsed(time.GetUtcNow()))
        {
            return;
        }

        try
        {
            await holder.RevokeAsync(HostId, _leaseGrant).WaitAsync(s_revokeTimeout, time);
            metrics.LeaseRevoked(delivered: true);
        }
        catch (Exception exception)
        {
            metrics.LeaseRevoked(delivered: false);
            LogLeaseRevokeFailed(HostId, exception.GetType().Name, exception.Message);
        }
    }

    // The holder counts its lease from before it asked, so it ends no later than this.
    private bool LeaseLapsed(DateTimeOffset now) => now.UtcTicks >= _leaseGrant + checkInOptions.CurrentValue.QuietLease.Ticks;

    [LoggerMessage(EventId = 110, Level = LogLevel.Warning,
        Message = "Host {HostId}: could not revoke its check-in lease ({Kind}: {Error}); the lease lapses on its own")]
    private partial void LogLeaseRevokeFailed(string hostId, string kind, string error);
}
