namespace Fleet.Contracts;

/// <summary>A configuration profile an operator declared for a team.</summary>
/// <param name="Identifier">The profile's <c>PayloadIdentifier</c>; unique within a team.</param>
/// <param name="DisplayName">What operators and the device show.</param>
/// <param name="Checksum">Checksum of the payload; a new checksum is a new version to install.</param>
/// <param name="UploadedAt">When this version was declared; an osquery install date older than this does not confirm it.</param>
[GenerateSerializer, Immutable, Alias("fleet.profile-declaration")]
public sealed record ProfileDeclaration(
    [property: Id(0)] string Identifier,
    [property: Id(1)] string DisplayName,
    [property: Id(2)] string Checksum,
    [property: Id(3)] DateTimeOffset UploadedAt);

/// <summary>A team's declared profiles and a version that grows with every change to them.</summary>
[GenerateSerializer, Immutable, Alias("fleet.team-profiles")]
public sealed record TeamProfiles(
    [property: Id(0)] string TeamId,
    [property: Id(1)] long Version,
    [property: Id(2)] IReadOnlyList<ProfileDeclaration> Profiles);

/// <summary>Where one host–profile pair stands. Also a host's OS-settings status (the worst of its profiles).</summary>
[GenerateSerializer, Alias("fleet.profile-status")]
public enum ProfileStatus
{
    /// <summary>No profiles (as an OS-settings status only).</summary>
    None = 0,
    Verified = 1,
    Verifying = 2,
    Pending = 3,
    Failed = 4,
}

/// <summary>Whether the pair is being installed or removed.</summary>
[GenerateSerializer, Alias("fleet.profile-operation")]
public enum ProfileOperation
{
    Install = 0,
    Remove = 1,
}

/// <summary>One change of a host–profile pair.</summary>
[GenerateSerializer, Immutable, Alias("fleet.profile-transition")]
public sealed record ProfileTransition(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] ProfileOperation Operation,
    [property: Id(2)] ProfileStatus From,
    [property: Id(3)] ProfileStatus To,
    [property: Id(4)] string Detail);

/// <summary>The operator's view of one host–profile pair.</summary>
[GenerateSerializer, Immutable, Alias("fleet.host-profile-view")]
public sealed record HostProfileView(
    [property: Id(0)] string Identifier,
    [property: Id(1)] string? DisplayName,
    [property: Id(2)] ProfileOperation Operation,
    [property: Id(3)] ProfileStatus Status,
    [property: Id(4)] string? Detail,
    [property: Id(5)] int Attempt,
    [property: Id(6)] DateTimeOffset? Deadline,
    [property: Id(7)] DateTimeOffset UpdatedAt,
    [property: Id(8)] IReadOnlyList<ProfileTransition> History);

/// <summary>
/// The operator's view of a host's MDM enrollment and command channel. <see cref="PushFailure"/> says why the
/// last push failed (code <c>push_failed</c>); it is null after a push succeeds. <see cref="PushFailureKind"/>
/// tells the failures apart for scripts: <c>certificate_expired</c>, <c>unreachable</c>,
/// <c>invalid_device_token</c> or <c>rejected</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-view")]
public sealed record MdmView(
    [property: Id(0)] bool Enrolled,
    [property: Id(1)] DateTimeOffset? EnrolledAt,
    [property: Id(2)] DateTimeOffset? CheckedOutAt,
    [property: Id(3)] DateTimeOffset? LastSeenAt,
    [property: Id(4)] string? Topic,
    [property: Id(5)] int QueuedCommands,
    [property: Id(6)] DateTimeOffset? LastPushAt,
    [property: Id(7)] DateTimeOffset? NextPushAt,
    [property: Id(8)] Reason? PushFailure,
    [property: Id(9)] string? PushFailureKind = null);

/// <summary>Counts of hosts by OS-settings status: <c>{verified, verifying, pending, failed}</c>.</summary>
[GenerateSerializer, Immutable, Alias("fleet.profile-summary")]
public sealed record ProfileSummary(
    [property: Id(0)] int Verified,
    [property: Id(1)] int Verifying,
    [property: Id(2)] int Pending,
    [property: Id(3)] int Failed);

/// <summary>
/// A team: its declared configuration profiles and its member hosts. Keyed by the team id
/// (see <see cref="TeamIds"/>). A change to the profiles is sent to every member; a member also pulls the
/// current set when it activates, so a lost message is repaired.
/// </summary>
[Alias("fleet.team")]
public interface ITeamGrain : IGrainWithStringKey
{
    /// <summary>Declares or replaces a profile (a new checksum is a new version).</summary>
    [Alias("upsert-profile")]
    Task<ProfileDeclaration> UpsertProfileAsync(string identifier, string displayName, string checksum);

    /// <summary>Removes a declared profile; false when the team had none by that identifier.</summary>
    [Alias("delete-profile")]
    Task<bool> DeleteProfileAsync(string identifier);

    [Alias("get-profiles")]
    Task<TeamProfiles> GetProfilesAsync();

    /// <summary>Called by a host that joins the team; answers the current profiles.</summary>
    [Alias("join")]
    Task<TeamProfiles> JoinAsync(string hostId);

    /// <summary>Called by a host that leaves the team.</summary>
    [Alias("leave")]
    Task LeaveAsync(string hostId);
}

/// <summary>Team ids: 1–64 characters of letters, digits, <c>-</c> and <c>_</c>, compared as written.</summary>
public static class TeamIds
{
    public const int MaxLength = 64;

    public static bool IsValid(string? value) =>
        !string.IsNullOrEmpty(value)
        && value.Length <= MaxLength
        && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
