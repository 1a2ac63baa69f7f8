using System.Collections.Concurrent;

namespace Fleet.Chaos;

/// <summary>A refetch the Api answered 202: the host must reach verified or failed by its deadline plus the slack.</summary>
internal sealed record AcceptedRefetch(string Phase, string HostId, int Epoch, DateTimeOffset RequestedAt);

/// <summary>A bulk refetch the Api answered 202.</summary>
internal sealed record AcceptedJob(string Phase, string JobId, int Hosts, int Rate, DateTimeOffset AcceptedAt);

/// <summary>A profile declaration the Api answered 200.</summary>
internal sealed record AcceptedProfile(string Phase, string Identifier, string Checksum);

/// <summary>Everything the Api accepted during the run, which must never be lost.</summary>
internal sealed class Ledger
{
    private readonly ConcurrentDictionary<(string HostId, int Epoch), AcceptedRefetch> _refetches = new();
    private readonly ConcurrentQueue<AcceptedJob> _jobs = new();
    private readonly ConcurrentQueue<AcceptedProfile> _profiles = new();

    public void Add(AcceptedRefetch refetch) => _refetches.TryAdd((refetch.HostId, refetch.Epoch), refetch);

    public void Add(AcceptedJob job) => _jobs.Enqueue(job);

    public void Add(AcceptedProfile profile) => _profiles.Enqueue(profile);

    /// <summary>The accepted refetches of one phase, or of every phase when <paramref name="phase"/> is null.</summary>
    public List<AcceptedRefetch> Refetches(string? phase) =>
        [.. _refetches.Values.Where(refetch => phase is null || refetch.Phase == phase)];

    public List<AcceptedJob> Jobs(string? phase) => [.. _jobs.Where(job => phase is null || job.Phase == phase)];

    public List<AcceptedProfile> Profiles(string? phase) => [.. _profiles.Where(profile => phase is null || profile.Phase == phase)];
}
