using Orleans.Concurrency;

namespace Fleet.Contracts;

/// <summary>
/// What a bulk refetch covers and how fast it goes: either the hosts an index filter matches when the job
/// reaches them, or an explicit list of host ids (canonical), never both.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-job-spec")]
public sealed record RefetchJobSpec(
    [property: Id(0)] HostQuery? Filter,
    [property: Id(1)] IReadOnlyList<string>? HostIds,
    [property: Id(2)] int RatePerSecond,
    [property: Id(3)] DateTimeOffset CreatedAt);

/// <summary>Where a job is in its life.</summary>
public enum RefetchJobState
{
    /// <summary>Requesting refetches, paced by its rate and the cluster's cap.</summary>
    Running = 0,

    /// <summary>Every host is requested; waiting for the last ones to reach Verified or Failed.</summary>
    Draining = 1,

    /// <summary>Every requested host reached Verified or Failed (or was superseded by a newer refetch).</summary>
    Completed = 2,

    /// <summary>Cancelled by an operator: no further requests; refetches already requested run to their end.</summary>
    Cancelled = 3,
}

/// <summary>Requested hosts by where their refetch for this job stands, as the host index last saw them.</summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-job-counts")]
public sealed record RefetchJobCounts(
    [property: Id(0)] int Pending,
    [property: Id(1)] int Verifying,
    [property: Id(2)] int Verified,
    [property: Id(3)] int Failed)
{
    /// <summary>
    /// A new zero each time: grain storage's JSON reader fills a property's existing object in place, so a
    /// shared instance used as a default would be overwritten by the first state it reads.
    /// </summary>
    public static RefetchJobCounts Zero => new(0, 0, 0, 0);

    public int Total => Pending + Verifying + Verified + Failed;

    public RefetchJobCounts Plus(RefetchJobCounts other) => new(
        Pending + other.Pending, Verifying + other.Verifying, Verified + other.Verified, Failed + other.Failed);
}

/// <summary>
/// A job's progress. <see cref="Matched"/> is what the index held for the filter when the job started (the
/// explicit list's length); <see cref="Requested"/> counts hosts asked to refetch, once each;
/// <see cref="Unknown"/> counts listed ids no agent enrolled as; <see cref="Superseded"/> counts requested
/// hosts whose latest refetch is no longer this job's (an operator or another job asked again).
/// Requested = Verified + Failed + Pending + Verifying + Superseded.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-job-view")]
public sealed record RefetchJobView(
    [property: Id(0)] string JobId,
    [property: Id(1)] RefetchJobState State,
    [property: Id(2)] RefetchJobSpec Spec,
    [property: Id(3)] int Matched,
    [property: Id(4)] int Requested,
    [property: Id(5)] RefetchJobCounts Counts,
    [property: Id(6)] int Superseded,
    [property: Id(7)] int Unknown,
    [property: Id(8)] double RequestsPerSecond,
    [property: Id(9)] DateTimeOffset? EstimatedCompletion,
    [property: Id(10)] DateTimeOffset? StartedAt,
    [property: Id(11)] DateTimeOffset? FinishedAt,
    [property: Id(12)] DateTimeOffset UpdatedAt);

/// <summary>How a start request was taken.</summary>
public enum RefetchJobStartOutcome
{
    /// <summary>The job started.</summary>
    Started = 0,

    /// <summary>The job already existed with the same spec; its view is returned.</summary>
    AlreadyStarted = 1,

    /// <summary>A job with this id exists with a different spec.</summary>
    Conflict = 2,
}

[GenerateSerializer, Immutable, Alias("fleet.refetch-job-start")]
public sealed record RefetchJobStartResult(
    [property: Id(0)] RefetchJobStartOutcome Outcome,
    [property: Id(1)] RefetchJobView View);

/// <summary>
/// One bulk refetch, keyed by its job id. It walks its hosts in host-id order from a persisted cursor,
/// requests each host at most once (the host remembers the job that asked), and finishes only when every
/// requested host is terminal. A reminder brings it back after a silo restart.
/// </summary>
[Alias("fleet.refetch-job")]
public interface IRefetchJobGrain : IGrainWithStringKey
{
    [Alias("start")]
    Task<RefetchJobStartResult> StartAsync(RefetchJobSpec spec);

    /// <summary>The job's progress, or null for a job that was never started.</summary>
    [AlwaysInterleave, Alias("get")]
    Task<RefetchJobView?> GetAsync();

    /// <summary>Stops further requests; null for a job that was never started. Cancelling a finished job changes nothing.</summary>
    [Alias("cancel")]
    Task<RefetchJobView?> CancelAsync();
}

/// <summary>
/// The cluster-wide cap on refetch requests per second, shared by every running job (key
/// <see cref="RefetchJobs.RateLimiterKey"/>).
/// </summary>
[Alias("fleet.refetch-rate-limiter")]
public interface IRefetchRateLimiterGrain : IGrainWithIntegerKey
{
    /// <summary>Grants up to <paramref name="wanted"/> requests for the calling job now; 0 when the cap is spent.</summary>
    [Alias("acquire")]
    Task<int> AcquireAsync(string jobId, int wanted);
}

public static class RefetchJobs
{
    public const long RateLimiterKey = 0;

    /// <summary>The longest explicit host list a job takes; larger sets are chosen with a filter.</summary>
    public const int MaxExplicitHosts = 1000;

    /// <summary>The highest rate a job may ask for; the cluster cap may hold it lower.</summary>
    public const int MaxRatePerSecond = 5000;
}
