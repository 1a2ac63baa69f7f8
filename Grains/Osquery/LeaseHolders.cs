using System.Collections.Concurrent;
using Fleet.Contracts;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Osquery;

/// <summary>
/// The Api processes that hold check-in leases on this silo's hosts, one <see cref="LeaseHolder"/> each, and the
/// lease they are granted. A host keeps the shared holder instead of the reference each call deserializes (a few
/// Api processes, thousands of hosts), and the holders remember which Api process stopped answering, so one dead
/// Api process costs the silo one revocation timeout per lease period rather than one per host.
/// </summary>
internal sealed class LeaseHolders(IOptionsMonitor<CheckInOptions> options, TimeProvider time)
{
    // Api processes come and go over a silo's life; past this many the ones gone are dropped with the rest.
    // Hosts keep the holders they hold, so nothing breaks.
    private const int Limit = 256;

    // A holder that did not answer a revocation is not granted leases, nor asked to revoke, for at least this long.
    private static readonly TimeSpan s_minSilence = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<GrainId, LeaseHolder> _holders = new();

    /// <summary>The lease granted now; zero when leases are off.</summary>
    public TimeSpan QuietLease => options.CurrentValue.QuietLease;

    public LeaseHolder Intern(ICheckInLeaseHolder reference)
    {
        var id = reference.GetGrainId();
        if (_holders.TryGetValue(id, out var known))
        {
            return known;
        }

        if (_holders.Count >= Limit)
        {
            _holders.Clear();
        }

        return _holders.GetOrAdd(id, _ => new LeaseHolder(reference));
    }

    /// <summary>
    /// The holder did not answer a revocation. Until every lease it could still hold has lapsed (one lease from
    /// now), it gets no new lease and is not asked again: its leases end on their own.
    /// </summary>
    public void Silent(LeaseHolder holder) =>
        holder.SilentUntil = time.GetTimestamp() + Timestamps(QuietLease > s_minSilence ? QuietLease : s_minSilence);

    public bool IsSilent(LeaseHolder holder) => time.GetTimestamp() < holder.SilentUntil;

    /// <summary>A duration in the units of <see cref="TimeProvider.GetTimestamp"/>.</summary>
    public long Timestamps(TimeSpan duration) => (long)(duration.TotalSeconds * time.TimestampFrequency);
}

/// <summary>One Api process that holds leases: the reference hosts call, and until when it is taken as silent.</summary>
internal sealed class LeaseHolder(ICheckInLeaseHolder reference)
{
    public ICheckInLeaseHolder Reference { get; } = reference;

    public GrainId Id { get; } = reference.GetGrainId();

    public long SilentUntil { get; set; }
}
