using Orleans.Concurrency;

namespace Fleet.Contracts;

/// <summary>The fields of a host that lists, filters and counts read, as the host last published them.</summary>
[GenerateSerializer, Immutable, Alias("fleet.index-entry")]
public sealed record HostIndexEntry(
    [property: Id(0)] string HostId,
    [property: Id(1)] long Revision,
    [property: Id(2)] RefetchStatus Status,
    [property: Id(3)] string? Platform,
    [property: Id(4)] string? OsVersion,
    [property: Id(5)] string? Hostname,
    [property: Id(6)] string? Serial,
    [property: Id(7)] DateTimeOffset? LastSeenAt,
    [property: Id(8)] DateTimeOffset StatusChangedAt,
    [property: Id(9)] Reason? Reason,
    [property: Id(10)] string? TeamId = null,
    [property: Id(11)] ProfileStatus OsSettings = ProfileStatus.None,
    [property: Id(12)] DateTimeOffset? CertificateNotAfter = null,
    [property: Id(13)] IdentityState? Identity = null,
    [property: Id(14)] string? RefetchJobId = null,
    [property: Id(15)] DateTimeOffset? WakeAt = null);

/// <summary>
/// A filter over the index. Null fields match everything. <see cref="CertificateExpiresBefore"/> keeps hosts
/// with an identity certificate whose not-after is earlier (expired ones included); <see cref="OsVersion"/>
/// keeps hosts that reported that OS version or one continuing it after a dot ("15" keeps "15.1.2", not
/// "150.0"); <see cref="LastSeenBefore"/> keeps hosts last seen
/// earlier (never-seen ones included); <see cref="RefetchJobId"/> keeps hosts whose latest refetch that job requested.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.index-query")]
public sealed record HostQuery(
    [property: Id(0)] RefetchStatus? Status,
    [property: Id(1)] string? Platform,
    [property: Id(2)] string? AfterHostId,
    [property: Id(3)] int Limit,
    [property: Id(4)] string? TeamId = null,
    [property: Id(5)] ProfileStatus? OsSettings = null,
    [property: Id(6)] DateTimeOffset? CertificateExpiresBefore = null,
    [property: Id(7)] string? OsVersion = null,
    [property: Id(8)] DateTimeOffset? LastSeenBefore = null,
    [property: Id(9)] string? RefetchJobId = null);

/// <summary>One shard's answer: matching entries in host-id order, and how many matched in all.</summary>
[GenerateSerializer, Immutable, Alias("fleet.index-page")]
public sealed record HostIndexPage(
    [property: Id(0)] IReadOnlyList<HostIndexEntry> Entries,
    [property: Id(1)] int Total);

/// <summary>Counts per status and per platform.</summary>
[GenerateSerializer, Immutable, Alias("fleet.index-counts")]
public sealed record HostCounts(
    [property: Id(0)] int Total,
    [property: Id(1)] IReadOnlyDictionary<RefetchStatus, int> ByStatus,
    [property: Id(2)] IReadOnlyDictionary<string, int> ByPlatform,
    [property: Id(3)] int CertificatesExpired = 0,
    [property: Id(4)] int CertificatesRenewing = 0);

/// <summary>
/// One shard of the host read model. Hosts publish their indexed fields here so that lists and counts
/// never fan out to every host grain. Keyed by <see cref="HostIndex.ShardOf"/>.
/// </summary>
[Alias("fleet.host-index-shard")]
public interface IHostIndexShardGrain : IGrainWithIntegerKey
{
    /// <summary>Records a host's fields; an entry older than the one held is ignored.</summary>
    [OneWay, Alias("publish")]
    Task PublishAsync(HostIndexEntry entry);

    /// <summary>
    /// Records a host's entry and a wake-up it is about to store, and answers once both are saved. The host
    /// calls it before writing a state whose wake-up is earlier than the shard may hold, so that after a
    /// crash the shard's sweep re-activates the host in time. Until the host publishes the revision after
    /// <paramref name="entry"/>, older publishes cannot take the wake-up away.
    /// </summary>
    [AlwaysInterleave, Alias("track-wake")]
    Task TrackWakeAsync(HostIndexEntry entry, DateTimeOffset wakeAt);

    /// <summary>
    /// A host the sweep woke answers with its entry: its stored wake-up replaces one that fell due, even a
    /// wake-up tracked for a write that never happened.
    /// </summary>
    [OneWay, Alias("publish-after-wake")]
    Task PublishAfterWakeAsync(HostIndexEntry entry);

    /// <summary>
    /// Entries live hosts send again after a silo died, since this shard may have come back from rows that lack
    /// publishes it had not saved. Taken like publishes, except that a live last-seen time alone is not a
    /// change; answers how many entries the shard lacked or held behind.
    /// </summary>
    [Alias("restore")]
    Task<int> RestoreAsync(IReadOnlyList<HostIndexEntry> entries);

    /// <summary>Reads memory only, so it may run while a flush waits on storage.</summary>
    [AlwaysInterleave, Alias("query")]
    Task<HostIndexPage> QueryAsync(HostQuery query);

    /// <summary>Reads memory only, so it may run while a flush waits on storage.</summary>
    [AlwaysInterleave, Alias("count")]
    Task<HostCounts> CountAsync();

    /// <summary>Hosts by OS-settings status, for one team or (null) all; hosts without profiles are not counted.</summary>
    [AlwaysInterleave, Alias("count-os-settings")]
    Task<ProfileSummary> CountOsSettingsAsync(string? teamId);

    /// <summary>Hosts whose latest refetch the job requested, by that refetch's status.</summary>
    [AlwaysInterleave, Alias("count-job")]
    Task<RefetchJobCounts> CountJobAsync(string jobId);

    /// <summary>
    /// Entries whose host id is <paramref name="value"/> (any spelling <see cref="HostIds.TryNormalize"/>
    /// accepts), or whose serial or hostname equals it ignoring case. Reads memory only.
    /// </summary>
    [AlwaysInterleave, Alias("find")]
    Task<IReadOnlyList<HostIndexEntry>> FindAsync(string value);

    /// <summary>
    /// Rebuilds the shard from the hosts' own state: asks every host stored in grain storage that belongs
    /// here, and every host the shard holds, for its current entry, drops hosts that no longer exist, and
    /// saves the result before answering.
    /// </summary>
    [Alias("repair"), ResponseTimeout("00:10:00")]
    Task<IndexRepairReport> RepairAsync();
}

/// <summary>What a shard repair found: the hosts it now holds and how many it added, corrected and removed.</summary>
[GenerateSerializer, Immutable, Alias("fleet.index-repair-report")]
public sealed record IndexRepairReport(
    [property: Id(0)] int Shard,
    [property: Id(1)] int Hosts,
    [property: Id(2)] int Added,
    [property: Id(3)] int Updated,
    [property: Id(4)] int Removed,
    [property: Id(5)] TimeSpan Took);

/// <summary>How hosts map onto index shards. Both the Api and the silo must agree on it.</summary>
public static class HostIndex
{
    /// <summary>Number of shards. Changing it needs every shard rebuilt.</summary>
    public const int ShardCount = 16;

    /// <summary>The platform word for hosts that never reported one, in counts and in filters alike.</summary>
    public const string UnknownPlatform = "unknown";

    /// <summary>Asks every shard the same question at once; the answers come back in shard order.</summary>
    public static Task<T[]> AskEveryShardAsync<T>(IGrainFactory grains, Func<IHostIndexShardGrain, Task<T>> ask) =>
        Task.WhenAll(Enumerable.Range(0, ShardCount).Select(shard => ask(grains.GetGrain<IHostIndexShardGrain>(shard))));

    /// <summary>The fleet's hosts per refetch status, summed over every shard's counts (each status present).</summary>
    public static Dictionary<RefetchStatus, int> SumByStatus(IReadOnlyCollection<HostCounts> shards) =>
        Enum.GetValues<RefetchStatus>().ToDictionary(s => s, s => shards.Sum(c => c.ByStatus.GetValueOrDefault(s)));

    /// <summary>A stable (process-independent) shard for a canonical host id.</summary>
    public static int ShardOf(string hostId)
    {
        // FNV-1a: string.GetHashCode is randomised per process and so cannot route between processes.
        var hash = 2166136261u;
        foreach (var c in hostId)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % ShardCount);
    }
}
