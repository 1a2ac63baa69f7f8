using Fleet.Contracts;

namespace Fleet.Grains.Index;

/// <summary>
/// A shard's counts kept up to date as entries come and go, so the summary costs a few dictionary copies
/// instead of a pass over thousands of entries. Always equal to <see cref="HostIndexRules.Count"/> of the
/// entries held.
/// </summary>
internal sealed class RunningCounts
{
    private readonly Dictionary<RefetchStatus, int> _byStatus = [];
    private readonly Dictionary<string, int> _byPlatform = new(StringComparer.Ordinal);
    private int _total;
    private int _expired;
    private int _renewing;

    public void Add(HostIndexEntry entry) => Apply(entry, 1);

    public void Remove(HostIndexEntry entry) => Apply(entry, -1);

    public HostCounts Snapshot() => new(
        _total,
        _byStatus.Where(p => p.Value > 0).ToDictionary(),
        _byPlatform.Where(p => p.Value > 0).ToDictionary(StringComparer.Ordinal),
        _expired,
        _renewing);

    private void Apply(HostIndexEntry entry, int delta)
    {
        _total += delta;
        _byStatus[entry.Status] = _byStatus.GetValueOrDefault(entry.Status) + delta;
        var platform = entry.Platform ?? HostIndex.UnknownPlatform;
        _byPlatform[platform] = _byPlatform.GetValueOrDefault(platform) + delta;
        _expired += entry.Identity == IdentityState.Expired ? delta : 0;
        _renewing += entry.Identity == IdentityState.Renewing ? delta : 0;
    }
}
