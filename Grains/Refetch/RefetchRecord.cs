using Fleet.Contracts;

namespace Fleet.Grains.Refetch;

/// <summary>
/// The persisted state of a host's latest refetch. Immutable; the machine returns new copies.
/// Without <see cref="Mdm"/> the refetch needs osquery alone and the top-level fields are that requirement,
/// exactly as before MDM existed. With it, the top-level status, deadline and reason are the combination of
/// the parts: <see cref="Osquery"/> (when the policy also needs osquery) and <see cref="Mdm"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-record")]
public sealed record RefetchRecord
{
    [Id(0)] public required int Epoch { get; init; }
    [Id(1)] public required RefetchStatus Status { get; init; }
    [Id(2)] public required DateTimeOffset RequestedAt { get; init; }

    /// <summary>When the current step times out (the earliest live part's deadline); null once terminal.</summary>
    [Id(3)] public DateTimeOffset? Deadline { get; init; }
    [Id(4)] public required int Attempt { get; init; }
    [Id(5)] public required int MaxAttempts { get; init; }

    /// <summary>Why it failed, or why the last attempt was retried.</summary>
    [Id(6)] public Reason? Reason { get; init; }
    [Id(7)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>When the agent last took this epoch's detail queries; null while none were handed out.</summary>
    [Id(8)] public DateTimeOffset? HandedOutAt { get; init; }
    [Id(9)] public required string Policy { get; init; }

    /// <summary>The osquery requirement when the refetch also needs MDM; null otherwise.</summary>
    [Id(10)] public RefetchPart? Osquery { get; init; }

    /// <summary>The MDM requirement (this epoch's DeviceInformation acknowledged); null when not required.</summary>
    [Id(11)] public RefetchPart? Mdm { get; init; }

    /// <summary>The bulk refetch job that requested (or adopted) this refetch; null when an operator asked for it alone.</summary>
    [Id(12)] public string? JobId { get; init; }

    public bool InFlight => Status is RefetchStatus.Pending or RefetchStatus.Verifying;

    /// <summary>True while the agent still owes this epoch's detail query results.</summary>
    public bool OsqueryOwed => Mdm is null ? InFlight : InFlight && Osquery is { Live: true };

    /// <summary>The osquery requirement, whichever way it is stored; null when the refetch does not need osquery.</summary>
    public RefetchPart? OsqueryPart => Mdm is null
        ? new RefetchPart
        {
            Status = Status,
            Deadline = Deadline,
            Attempt = Attempt,
            MaxAttempts = MaxAttempts,
            Reason = Reason,
            CompletedAt = CompletedAt,
            HandedOutAt = HandedOutAt,
        }
        : Osquery;

    public RefetchView ToView(string hostId) =>
        new(hostId, Epoch, Status, RequestedAt, Deadline, Attempt, MaxAttempts, Reason, CompletedAt, HandedOutAt, Policy)
        {
            Osquery = OsqueryPart?.ToView(),
            Mdm = Mdm?.ToView(),
            Note = RefetchPolicy.ChannelsFor(Policy) != RefetchChannels.OsqueryAndMdm ? null
                : Mdm is null ? "osquery only: the host is not enrolled in MDM"
                : Osquery is null ? "MDM only: the host has no osquery agent enrolled"
                : null,
        };
}

/// <summary>
/// One requirement of a refetch: osquery detail results, or the MDM acknowledgement of this epoch's
/// <c>DeviceInformation</c>. Each has its own deadline and attempts.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-part")]
public sealed record RefetchPart
{
    [Id(0)] public required RefetchStatus Status { get; init; }
    [Id(1)] public DateTimeOffset? Deadline { get; init; }
    [Id(2)] public required int Attempt { get; init; }
    [Id(3)] public required int MaxAttempts { get; init; }
    [Id(4)] public Reason? Reason { get; init; }

    /// <summary>When the requirement was met (for MDM: acknowledged) or failed.</summary>
    [Id(5)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>When the queries, or the <c>DeviceInformation</c> command, were last handed to the host.</summary>
    [Id(6)] public DateTimeOffset? HandedOutAt { get; init; }

    /// <summary>For MDM: the UUID of this epoch's queued <c>DeviceInformation</c> command.</summary>
    [Id(7)] public string? CommandUuid { get; init; }

    public bool Live => Status is RefetchStatus.Pending or RefetchStatus.Verifying;

    public RefetchPartView ToView() =>
        new(Status, Deadline, Attempt, MaxAttempts, Reason, CompletedAt, HandedOutAt, CommandUuid);
}
