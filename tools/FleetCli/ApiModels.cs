namespace Fleet.Cli;

// The parts of the operator API's JSON this tool reads; the API's shapes are in the README.

/// <summary>Why a refetch failed: a stable code and a sentence.</summary>
public sealed record ReasonJson(string Code, string Message);

/// <summary>One row of <c>GET /api/v1/hosts</c>.</summary>
public sealed record HostRowJson(
    string HostId,
    string Status,
    string? Platform,
    string? OsVersion,
    string? Hostname,
    string? Serial,
    DateTimeOffset? LastSeenAt,
    ReasonJson? Reason,
    string? TeamId,
    string? OsSettings);

/// <summary>A page of the host list.</summary>
public sealed record HostPageJson(IReadOnlyList<HostRowJson> Hosts, int Total, string? NextCursor);

/// <summary>A host's current refetch.</summary>
public sealed record RefetchJson(
    string HostId, int Epoch, string Status, DateTimeOffset RequestedAt, DateTimeOffset? Deadline,
    int Attempt, int MaxAttempts, ReasonJson? Reason, DateTimeOffset? CompletedAt, string? Note);

/// <summary>What the host's agent last reported.</summary>
public sealed record HostDetailsJson(string? Hostname, string? Serial, string? Platform, string? OsVersion);

/// <summary><c>GET /api/v1/hosts/{host_id}</c>.</summary>
public sealed record HostJson(
    string HostId,
    HostDetailsJson? Details,
    DateTimeOffset EnrolledAt,
    DateTimeOffset? LastSeenAt,
    RefetchJson? Refetch,
    string? TeamId,
    string? OsSettings);

/// <summary>Another host that shares the looked-up serial or hostname.</summary>
public sealed record OtherMatchJson(string HostId, string? Hostname, string? Serial, DateTimeOffset? LastSeenAt);

/// <summary><c>GET /api/v1/hosts/identifier/{value}</c>.</summary>
public sealed record IdentifierMatchJson(
    string HostId, string MatchedBy, HostJson Host, IReadOnlyList<OtherMatchJson>? OtherMatches, string? Note);

/// <summary>The filter of a bulk refetch job, as posted and as the API echoes it.</summary>
public sealed record JobFilterJson(
    string? Status = null,
    string? Platform = null,
    string? OsVersion = null,
    string? TeamId = null,
    string? OsSettings = null,
    DateTimeOffset? LastSeenBefore = null,
    int? CertificateExpiresWithinDays = null);

/// <summary>The body of <c>POST /api/v1/refetch_jobs</c>: a filter or host ids, and a rate.</summary>
public sealed record JobRequestJson(JobFilterJson? Filter, IReadOnlyList<string>? HostIds, int? Rate);

/// <summary>A bulk refetch job and its progress.</summary>
public sealed record JobJson(
    string JobId,
    string State,
    double Rate,
    JobFilterJson? Filter,
    int? HostIds,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    DateTimeOffset? UpdatedAt,
    int Matched,
    int Requested,
    int Pending,
    int Verifying,
    int Verified,
    int Failed,
    int Superseded,
    int Unknown,
    double RequestsPerSecond,
    DateTimeOffset? Eta)
{
    /// <summary>Completed or cancelled: its numbers will not change.</summary>
    public bool IsFinished => State is "completed" or "cancelled";

    /// <summary>Requested hosts that reached an end: verified, failed or superseded.</summary>
    public int Terminal => Verified + Failed + Superseded;
}
