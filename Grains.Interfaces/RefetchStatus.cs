namespace Fleet.Contracts;

/// <summary>Where a host's current refetch stands. The same words are used in the API, logs and metrics.</summary>
[GenerateSerializer, Alias("fleet.refetch-status")]
public enum RefetchStatus
{
    /// <summary>No refetch has ever been requested for the host.</summary>
    None = 0,

    /// <summary>Requested; waiting for the agent to pick up this epoch's detail queries.</summary>
    Pending = 1,

    /// <summary>The agent has this epoch's detail queries; waiting for its results.</summary>
    Verifying = 2,

    /// <summary>The agent answered this epoch's detail queries.</summary>
    Verified = 3,

    /// <summary>Terminal for the epoch; <see cref="Reason"/> says why.</summary>
    Failed = 4,
}

/// <summary>Why a refetch failed or was retried: a stable machine code and a short human sentence.</summary>
[GenerateSerializer, Immutable, Alias("fleet.reason")]
public sealed record Reason(
    [property: Id(0)] string Code,
    [property: Id(1)] string Message);

/// <summary>The machine codes a <see cref="Reason"/> may carry.</summary>
public static class ReasonCodes
{
    /// <summary>The agent never asked for the queries handed out for the epoch.</summary>
    public const string AgentSilent = "agent_silent";

    /// <summary>The agent took the queries but sent no results in time.</summary>
    public const string AgentNoResults = "agent_no_results";

    /// <summary>The agent ran a detail query and reported an error for it.</summary>
    public const string AgentError = "agent_error";

    /// <summary>A push to the device could not be sent (gateway unreachable, push certificate expired, token invalid).</summary>
    public const string PushFailed = "push_failed";

    /// <summary>The device did not acknowledge an MDM command in time.</summary>
    public const string MdmNoAck = "mdm_no_ack";

    /// <summary>The device answered an MDM command with <c>Error</c> or <c>CommandFormatError</c>.</summary>
    public const string MdmError = "mdm_error";

    /// <summary>The device removed its MDM enrollment (<c>CheckOut</c>) or re-enrolled while work was outstanding.</summary>
    public const string MdmUnenrolled = "mdm_unenrolled";

    /// <summary>The device's MDM identity certificate expired; MDM work cannot be delivered until it enrolls again.</summary>
    public const string IdentityExpired = "identity_expired";

    /// <summary>The service could not issue a renewed identity (its CA is unreadable, or ends inside the renewal window).</summary>
    public const string IdentityIssueFailed = "identity_issue_failed";

    /// <summary>The device acknowledged a renewed identity but did not present it in time; the renewal is retried.</summary>
    public const string IdentityNotPresented = "identity_not_presented";
}
