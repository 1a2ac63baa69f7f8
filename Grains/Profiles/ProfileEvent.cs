using Fleet.Contracts;

namespace Fleet.Grains.Profiles;

/// <summary>Something that happened to a host's configuration profiles.</summary>
public abstract record ProfileEvent
{
    /// <summary>The profiles the host's team declares now; none when the host has no team.</summary>
    public sealed record Reconcile(IReadOnlyList<ProfileDeclaration> Declared) : ProfileEvent;

    /// <summary>The device answered the InstallProfile or RemoveProfile command <paramref name="CommandUuid"/>.</summary>
    public sealed record CommandAnswered(
        string CommandUuid,
        MdmCommandKind Kind,
        MdmResultStatus Status,
        IReadOnlyList<MdmError> ErrorChain) : ProfileEvent;

    /// <summary>What the device has installed, from osquery or a ProfileList answer (<paramref name="Source"/> says which).</summary>
    public sealed record InstalledReported(IReadOnlyList<InstalledProfile> Installed, string Source) : ProfileEvent;

    /// <summary>
    /// A timer or reminder woke the host. <paramref name="PushState"/> says what is known about pushes to the
    /// device (for example why the last one failed), for the reason of a profile that times out; null when unknown.
    /// </summary>
    public sealed record DeadlinesDue(string? PushState) : ProfileEvent;

    /// <summary>The device enrolled in MDM again, which cleared its command queue.</summary>
    public sealed record Reenrolled(bool WasEnrolled = false) : ProfileEvent;

    /// <summary>The device removed its MDM enrollment (and with it every profile MDM installed).</summary>
    public sealed record CheckedOut : ProfileEvent;

    /// <summary>The device's identity certificate expired: it cannot receive or confirm MDM commands until it enrolls again.</summary>
    public sealed record IdentityExpired(Reason Reason) : ProfileEvent;
}

/// <summary>A command the grain must queue for a profile; it then stores the command's UUID on the record.</summary>
public sealed record ProfileCommandRequest(MdmCommandKind Kind, string Identifier, string? DisplayName, string? Checksum);

/// <summary>One transition of one profile, for logs and metrics (a removed profile's last one ends in <see cref="ProfileStatus.None"/>).</summary>
public sealed record ProfileChange(string Identifier, ProfileTransition Transition);

/// <summary>
/// The result of applying one event: the new records, the commands to queue and to drop, whether a
/// ProfileList and a push are wanted, and the transitions. <see cref="Changed"/> is false when nothing moved.
/// </summary>
public sealed record ProfileStep(
    IReadOnlyList<ProfileRecord> Records,
    IReadOnlyList<ProfileCommandRequest> Enqueue,
    IReadOnlyList<string> Drop,
    bool QueueProfileList,
    bool Push,
    IReadOnlyList<ProfileChange> Changes,
    bool Changed);
