using System.Collections.Concurrent;
using Fleet.Contracts;

namespace Fleet.Grains.Osquery;

/// <summary>
/// The Api processes that hold check-in leases on this silo's hosts, one reference each. A host keeps the
/// shared reference instead of the copy each call deserializes: a few Api processes, thousands of hosts.
/// </summary>
internal sealed class LeaseHolders
{
    // Api processes come and go over a silo's life; past this many the ones gone are dropped with the rest.
    // Hosts keep the references they hold, so nothing breaks.
    private const int Limit = 256;

    private readonly ConcurrentDictionary<GrainId, ICheckInLeaseHolder> _holders = new();

    public ICheckInLeaseHolder Intern(ICheckInLeaseHolder holder)
    {
        var id = holder.GetGrainId();
        if (_holders.TryGetValue(id, out var known))
        {
            return known;
        }

        if (_holders.Count >= Limit)
        {
            _holders.Clear();
        }

        return _holders.GetOrAdd(id, holder);
    }
}
