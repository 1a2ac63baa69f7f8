using Fleet.Contracts;
using Fleet.Grains.Mdm;

namespace Fleet.Grains.Hosts;

// The MDM command channel: check-ins, the command queue and pushes. Seam for the profile work:
// EnqueueCommand, DropCommand, RequestPush and MdmReady are what profiles use.
// This branch carries an in-memory stand-in so that profile work runs in grain tests; the command channel's
// own implementation (persisted queue, check-ins, pushes) replaces this file.
internal sealed partial class HostGrain
{
    private readonly Dictionary<string, QueuedCommand> _queuedCommands = new(StringComparer.Ordinal);

    /// <summary>Queues a command (persisted with the caller's write) and returns its UUID.</summary>
    private string EnqueueCommand(
        MdmCommandKind kind,
        string? profileIdentifier = null,
        string? profileDisplayName = null,
        string? profileChecksum = null,
        int? epoch = null)
    {
        var command = new QueuedCommand
        {
            CommandUuid = Guid.NewGuid().ToString().ToUpperInvariant(),
            Kind = kind,
            QueuedAt = time.GetUtcNow(),
            ProfileIdentifier = profileIdentifier,
            ProfileDisplayName = profileDisplayName,
            ProfileChecksum = profileChecksum,
            Epoch = epoch,
        };
        _queuedCommands[command.CommandUuid] = command;

        return command.CommandUuid;
    }

    /// <summary>Removes a queued command that is no longer wanted; false when it was not queued.</summary>
    private bool DropCommand(string commandUuid) => _queuedCommands.Remove(commandUuid);

    /// <summary>Asks for a push once the caller's change is written (and re-pushes with backoff while unanswered).</summary>
    private static void RequestPush()
    {
        // The stand-in has no device to push to (MdmReady is false), so profile work never asks.
    }

    /// <summary>True while the host is enrolled in MDM and not checked out.</summary>
    private static bool MdmReady => false;
}
