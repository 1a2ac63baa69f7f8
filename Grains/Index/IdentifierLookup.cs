using Fleet.Contracts;

namespace Fleet.Grains.Index;

/// <summary>
/// A shard's hosts by serial and by hostname, ignoring case, so that finding a host by either never scans
/// the shard. Several hosts may share one (a re-imaged Mac keeps its serial under a new host id).
/// </summary>
internal sealed class IdentifierLookup
{
    private readonly Dictionary<string, HashSet<string>> _bySerial = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, HashSet<string>> _byHostname = new(StringComparer.OrdinalIgnoreCase);

    public void Add(HostIndexEntry entry)
    {
        Add(_bySerial, entry.Serial, entry.HostId);
        Add(_byHostname, entry.Hostname, entry.HostId);
    }

    public void Remove(HostIndexEntry entry)
    {
        Remove(_bySerial, entry.Serial, entry.HostId);
        Remove(_byHostname, entry.Hostname, entry.HostId);
    }

    /// <summary>The ids of hosts whose serial or hostname is <paramref name="value"/>, ignoring case.</summary>
    public IEnumerable<string> Find(string value) =>
        _bySerial.GetValueOrDefault(value, []).Concat(_byHostname.GetValueOrDefault(value, [])).Distinct(StringComparer.Ordinal);

    private static void Add(Dictionary<string, HashSet<string>> map, string? key, string hostId)
    {
        if (string.IsNullOrEmpty(key))
        {
            return;
        }

        if (!map.TryGetValue(key, out var hostIds))
        {
            map[key] = hostIds = new HashSet<string>(StringComparer.Ordinal);
        }

        hostIds.Add(hostId);
    }

    private static void Remove(Dictionary<string, HashSet<string>> map, string? key, string hostId)
    {
        if (string.IsNullOrEmpty(key) || !map.TryGetValue(key, out var hostIds))
        {
            return;
        }

        hostIds.Remove(hostId);
        if (hostIds.Count == 0)
        {
            map.Remove(key);
        }
    }
}
