using Fleet.Contracts;
using Fleet.Grains.Mdm;

namespace Fleet.Grains.Hosts;

// The MDM command channel: check-ins, the command queue and pushes. Seam for the profile work:
// EnqueueCommand, DropCommand, RequestPush and MdmReady are what profiles use.
internal sealed partial class HostGrain
{
    /// <summary>Queues a command (persisted with the caller's write) and returns its UUID.</summary>
    private string EnqueueCommand(
        MdmCommandKind kind,
        string? profileIdentifier = null,
        string? profileDisplayName = null,
        string? profileChecksum = null,
        int? epoch = null) => throw new NotSupportedException();

    /// <summary>Removes a queued command that is no longer wanted; false when it was not queued.</summary>
    private bool DropCommand(string commandUuid) => throw new NotSupportedException();

    /// <summary>Asks for a push once the caller's change is written (and re-pushes with backoff while unanswered).</summary>
    private void RequestPush() => throw new NotSupportedException();

    /// <summary>True while the host is enrolled in MDM and not checked out.</summary>
    private bool MdmReady => false;
}
