using System.Diagnostics.CodeAnalysis;

namespace Fleet.Contracts;

/// <summary>
/// A node key is <c>{host id}:{secret}</c>. The host id routes a check-in to its grain without a lookup
/// table; only the grain, which holds a hash of the secret, can say whether the key is current.
/// </summary>
public static class NodeKeys
{
    /// <summary>Longer than any key the service issues; anything longer is refused unread.</summary>
    public const int MaxLength = 160;

    public static string Compose(string hostId, string secret) => $"{hostId}:{secret}";

    public static bool TryParse(
        string? nodeKey,
        [NotNullWhen(true)] out string? hostId,
        [NotNullWhen(true)] out string? secret)
    {
        hostId = null;
        secret = null;
        if (string.IsNullOrEmpty(nodeKey) || nodeKey.Length > MaxLength)
        {
            return false;
        }

        var colon = nodeKey.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == nodeKey.Length - 1 || !HostIds.TryNormalize(nodeKey[..colon], out hostId))
        {
            hostId = null;
            return false;
        }

        secret = nodeKey[(colon + 1)..];

        return true;
    }
}
