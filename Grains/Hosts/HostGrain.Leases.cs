using Fleet.Contracts;
using Fleet.Grains.Osquery;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Hosts;

/// <summary>
/// Quiet check-in leases: with nothing owed, the host lets the Api process that asked answer its agent's
/// <c>distributed/read</c> on its own for a while (<see cref="CheckInOptions.QuietLease"/>), so a fleet's idle
/// check-ins cost no grain call. Every call, timer tick and reminder passes the host's own call filter, which
/// ends with a check: if the host now owes queries, or is about to drop its activation, it revokes the lease and
/// waits for the holder's answer first (re-enrolment and deactivation revoke too). A revocation that fails
/// leaves the lease to lapse, which delays the pickup by at most the lease; so does a silo crash, which takes
/// the host's memory of the lease with it.
/// </summary>
internal sealed partial class HostGrain : IIncomingGrainCallFilter
{
    private static readonly TimeSpan s_revokeTimeout = TimeSpan.FromSeconds(2);

    // The Api process holding this host's lease (null: none); the grant's id, the ticks of this silo's clock
    // when it was granted (a later grant has a larger id); and when it ends, on the silo's steady clock and with
    // the duration granted, so neither a clock step nor a changed setting ends it early here.
    private LeaseHolder? _leaseHolder;
    private long _leaseGrant;
    private long _leaseEnds;

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

    /// <summary>The answer to a check-in with nothing owed: with a lease for <paramref name="reference"/> when one can be granted.</summary>
    private DistributedReadResult NothingOwed(ICheckInLeaseHolder? reference)
    {
        var duration = services.LeaseHolders.QuietLease;
        if (reference is null || duration <= TimeSpan.Zero || _aheadOfStorage)
        {
            return DistributedReadResult.NothingOwed;
        }

        // One holder at a time: another Api process keeps asking until the current lease lapses.
        if (_leaseHolder is { } current && !LeaseLapsed() && current.Id != reference.GetGrainId())
        {
            return DistributedReadResult.NothingOwed;
        }

        var holder = services.LeaseHolders.Intern(reference);
        if (services.LeaseHolders.IsSilent(holder))
        {
            return DistributedReadResult.NothingOwed;
        }

        _leaseHolder = holder;
        _leaseGrant = Math.Max(services.Time.GetUtcNow().UtcTicks, _leaseGrant + 1);
        _leaseEnds = services.Time.GetTimestamp() + services.LeaseHolders.Timestamps(duration);
        services.Metrics.LeaseGranted();

        return DistributedReadResult.NothingOwed with { Lease = new CheckInLease(_leaseGrant, duration) };
    }

    /// <summary>Revokes the lease if a quiet answer would now be wrong; forgets it once it has lapsed.</summary>
    private async Task KeepLeaseTrueAsync()
    {
        if (_leaseHolder is null)
        {
            return;
        }

        if (LeaseLapsed())
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
        if (LeaseLapsed())
        {
            return;
        }

        // A holder that failed to answer another host recently is not waited for: its leases lapse on their own.
        if (services.LeaseHolders.IsSilent(holder))
        {
            services.Metrics.LeaseRevoked(delivered: false);
            return;
        }

        try
        {
            await holder.Reference.RevokeAsync(HostId, _leaseGrant).WaitAsync(s_revokeTimeout, services.Time);
            services.Metrics.LeaseRevoked(delivered: true);
        }
        catch (Exception exception)
        {
            services.LeaseHolders.Silent(holder);
            services.Metrics.LeaseRevoked(delivered: false);
            LogLeaseRevokeFailed(HostId, exception.GetType().Name, exception.Message);
        }
    }

    // The holder counts its lease from before it asked, so it ends no later than this.
    private bool LeaseLapsed() => services.Time.GetTimestamp() >= _leaseEnds;

    [LoggerMessage(EventId = 110, Level = LogLevel.Warning,
        Message = "Host {HostId}: could not revoke its check-in lease ({Kind}: {Error}); the lease lapses on its own, " +
            "and its Api process gets no leases until then")]
    private partial void LogLeaseRevokeFailed(string hostId, string kind, string error);
}
