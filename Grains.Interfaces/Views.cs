namespace Fleet.Contracts;

/// <summary>The operator's view of a host's current refetch.</summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-view")]
public sealed record RefetchView(
    [property: Id(0)] string HostId,
    [property: Id(1)] int Epoch,
    [property: Id(2)] RefetchStatus Status,
    [property: Id(3)] DateTimeOffset RequestedAt,
    [property: Id(4)] DateTimeOffset? Deadline,
    [property: Id(5)] int Attempt,
    [property: Id(6)] int MaxAttempts,
    [property: Id(7)] Reason? Reason,
    [property: Id(8)] DateTimeOffset? CompletedAt,
    [property: Id(9)] DateTimeOffset? HandedOutAt,
    [property: Id(10)] string Policy)
{
    /// <summary>The osquery requirement; null when the policy verifies through MDM alone.</summary>
    [Id(11)] public RefetchPartView? Osquery { get; init; }

    /// <summary>The MDM requirement (this epoch's <c>DeviceInformation</c> acknowledged); null when not required.</summary>
    [Id(12)] public RefetchPartView? Mdm { get; init; }

    /// <summary>Why a requirement the policy names is missing, for example a Mac not enrolled in MDM.</summary>
    [Id(13)] public string? Note { get; init; }
}

/// <summary>
/// One requirement of a refetch, with its own deadline and attempts. <see cref="CommandUuid"/> names the
/// MDM command that meets it.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-part-view")]
public sealed record RefetchPartView(
    [property: Id(0)] RefetchStatus Status,
    [property: Id(1)] DateTimeOffset? Deadline,
    [property: Id(2)] int Attempt,
    [property: Id(3)] int MaxAttempts,
    [property: Id(4)] Reason? Reason,
    [property: Id(5)] DateTimeOffset? CompletedAt,
    [property: Id(6)] DateTimeOffset? HandedOutAt,
    [property: Id(7)] string? CommandUuid);

/// <summary>One change of a host's refetch status.</summary>
[GenerateSerializer, Immutable, Alias("fleet.transition")]
public sealed record Transition(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] int Epoch,
    [property: Id(2)] RefetchStatus From,
    [property: Id(3)] RefetchStatus To,
    [property: Id(4)] Reason? Reason);

/// <summary>
/// Everything an operator sees of one host. <see cref="OsSettings"/> is the worst status of its profiles
/// (removals included), <see cref="ProfileStatus.None"/> without profiles; <see cref="Mdm"/> is null for a
/// host that never checked in over MDM. <see cref="Revision"/> grows by one with every change written
/// to storage, so a client can tell whether anything was stored between two reads.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.host-view")]
public sealed record HostView(
    [property: Id(0)] string HostId,
    [property: Id(1)] HostDetails Details,
    [property: Id(2)] DateTimeOffset EnrolledAt,
    [property: Id(3)] DateTimeOffset? LastSeenAt,
    [property: Id(4)] DateTimeOffset? DetailUpdatedAt,
    [property: Id(5)] RefetchView? Refetch,
    [property: Id(6)] IReadOnlyList<Transition> Transitions,
    [property: Id(7)] long Revision,
    [property: Id(8)] string? TeamId,
    [property: Id(9)] ProfileStatus OsSettings,
    [property: Id(10)] IReadOnlyList<HostProfileView> Profiles,
    [property: Id(11)] MdmView? Mdm)
{
    /// <summary>The MDM identity certificate and its renewal; null before the host presents one.</summary>
    [Id(12)] public IdentityView? Identity { get; init; }
}

/// <summary>How a refetch request was taken.</summary>
[GenerateSerializer, Alias("fleet.refetch-outcome")]
public enum RefetchOutcome
{
    /// <summary>A new epoch started.</summary>
    Started = 0,

    /// <summary>A refetch was already in flight; its epoch and clock are unchanged.</summary>
    AlreadyInFlight = 1,

    /// <summary>No agent has enrolled under this host id.</summary>
    UnknownHost = 2,

    /// <summary>The host's latest refetch is already the asking job's; it is returned unchanged.</summary>
    AlreadyRequested = 3,
}

/// <summary>The answer to a refetch request.</summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-result")]
public sealed record RefetchRequestResult(
    [property: Id(0)] RefetchOutcome Outcome,
    [property: Id(1)] RefetchView? Refetch);
