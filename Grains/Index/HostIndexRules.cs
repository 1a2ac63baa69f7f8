using Fleet.Contracts;

namespace Fleet.Grains.Index;

/// <summary>What a shard's filter keeps and how it counts, apart from the grain that holds the entries.</summary>
internal static class HostIndexRules
{
    /// <summary>True when <paramref name="entry"/> passes every filter <paramref name="query"/> sets.</summary>
    public static bool Matches(HostIndexEntry entry, HostQuery query) =>
        (query.Status is null || entry.Status == query.Status)
        && (query.Platform is null
            || string.Equals(entry.Platform ?? HostIndex.UnknownPlatform, query.Platform, StringComparison.OrdinalIgnoreCase))
        && (query.TeamId is null || string.Equals(entry.TeamId, query.TeamId, StringComparison.Ordinal))
        && (query.OsSettings is null || entry.OsSettings == query.OsSettings)
        && (query.CertificateExpiresBefore is not { } before || entry.CertificateNotAfter < before)
        && (query.OsVersion is null || IsVersionOrPatch(entry.OsVersion, query.OsVersion))
        && (query.LastSeenBefore is not { } seenBefore || entry.LastSeenAt is null || entry.LastSeenAt < seenBefore)
        && (query.RefetchJobId is null || string.Equals(entry.RefetchJobId, query.RefetchJobId, StringComparison.Ordinal));

    /// <summary>
    /// True when <paramref name="version"/> is <paramref name="wanted"/> or continues it after a dot:
    /// "15" matches "15", "15.1" and "15.1.2" but not "150.0".
    /// </summary>
    public static bool IsVersionOrPatch(string? version, string wanted) =>
        version is not null
        && version.StartsWith(wanted, StringComparison.Ordinal)
        && (version.Length == wanted.Length || version[wanted.Length] == '.');

    /// <summary>The job's hosts by the status of their latest refetch, when that refetch is the job's.</summary>
    public static RefetchJobCounts CountJob(IEnumerable<HostIndexEntry> entries, string jobId)
    {
        int pending = 0, verifying = 0, verified = 0, failed = 0;
        foreach (var entry in entries)
        {
            if (!string.Equals(entry.RefetchJobId, jobId, StringComparison.Ordinal))
            {
                continue;
            }

            switch (entry.Status)
            {
                case RefetchStatus.Pending: pending++; break;
                case RefetchStatus.Verifying: verifying++; break;
                case RefetchStatus.Verified: verified++; break;
                case RefetchStatus.Failed: failed++; break;
            }
        }

        return new RefetchJobCounts(pending, verifying, verified, failed);
    }

    /// <summary>Hosts per refetch status and per platform, and hosts whose identity certificate expired or is being renewed.</summary>
    public static HostCounts Count(IReadOnlyCollection<HostIndexEntry> entries)
    {
        var byStatus = new Dictionary<RefetchStatus, int>();
        var byPlatform = new Dictionary<string, int>(StringComparer.Ordinal);
        var expired = 0;
        var renewing = 0;
        foreach (var entry in entries)
        {
            byStatus[entry.Status] = byStatus.GetValueOrDefault(entry.Status) + 1;
            var platform = entry.Platform ?? HostIndex.UnknownPlatform;
            byPlatform[platform] = byPlatform.GetValueOrDefault(platform) + 1;
            expired += entry.Identity == IdentityState.Expired ? 1 : 0;
            renewing += entry.Identity == IdentityState.Renewing ? 1 : 0;
        }

        return new HostCounts(entries.Count, byStatus, byPlatform, expired, renewing);
    }
}
