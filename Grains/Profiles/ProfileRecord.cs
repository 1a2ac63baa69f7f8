using Fleet.Contracts;

namespace Fleet.Grains.Profiles;

/// <summary>
/// The persisted state of one host–profile pair. Immutable; <see cref="ProfileMachine"/> returns new copies.
/// A removal keeps the identifier and checksum of what the device holds.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.profile-record")]
public sealed record ProfileRecord
{
    [Id(0)] public required string Identifier { get; init; }
    [Id(1)] public string? DisplayName { get; init; }
    [Id(2)] public required string Checksum { get; init; }

    /// <summary>When the team declared this version; an older install date does not confirm it.</summary>
    [Id(3)] public required DateTimeOffset UploadedAt { get; init; }
    [Id(4)] public required ProfileOperation Operation { get; init; }
    [Id(5)] public required ProfileStatus Status { get; init; }

    /// <summary>Why the pair is where it is: the device's error chain, what went missing, what timed out.</summary>
    [Id(6)] public string? Detail { get; init; }

    /// <summary>Which send of this version this is; a retry adds one, confirmation starts over at 1.</summary>
    [Id(7)] public required int Attempt { get; init; }

    /// <summary>When the current Pending or Verifying step times out; null otherwise.</summary>
    [Id(8)] public DateTimeOffset? Deadline { get; init; }

    /// <summary>The queued InstallProfile or RemoveProfile that serves this pair, until the device answers it.</summary>
    [Id(9)] public string? CommandUuid { get; init; }

    /// <summary>When the device acknowledged the install of this version.</summary>
    [Id(10)] public DateTimeOffset? AcknowledgedAt { get; init; }

    /// <summary>Since when osquery or a ProfileList reports a verifying or verified profile missing.</summary>
    [Id(11)] public DateTimeOffset? MissingSince { get; init; }

    /// <summary>The latest changes, oldest first, at most <see cref="ProfileMachine.HistoryLimit"/>.</summary>
    [Id(12)] public IReadOnlyList<ProfileTransition> History { get; init; } = [];
    [Id(13)] public required DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When this version was last seen installed on the device.</summary>
    [Id(14)] public DateTimeOffset? ConfirmedAt { get; init; }

    /// <summary>When a verifying profile's deadline queued a ProfileList to settle it; null before.</summary>
    [Id(15)] public DateTimeOffset? ListRequestedAt { get; init; }

    /// <summary>When the current Pending step began, for the reason a timeout gives.</summary>
    [Id(16)] public DateTimeOffset? PendingSince { get; init; }

    /// <summary>
    /// True once the device acknowledged or reported any version of this profile, so that taking it away needs
    /// a RemoveProfile. A profile the device never received is removed at once.
    /// </summary>
    [Id(17)] public bool HeldByDevice { get; init; }
}
