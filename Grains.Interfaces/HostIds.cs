using System.Diagnostics.CodeAnalysis;

namespace Fleet.Contracts;

/// <summary>
/// A host id is the machine's hardware UUID. Macs, osquery and MDM spell it in different cases, so the
/// service keeps one canonical, upper-case form and refuses anything that could not be one: hex digits
/// and dashes only, which covers RFC 4122 UUIDs, 40-hex legacy iOS UDIDs and Apple-silicon UDIDs, and
/// refuses hostnames that osquery may send as <c>host_identifier</c>.
/// </summary>
public static class HostIds
{
    /// <summary>Longest id accepted; a 40-hex legacy iOS UDID is the longest real form.</summary>
    public const int MaxLength = 64;

    /// <summary>Returns the canonical id, or false when <paramref name="value"/> cannot be a hardware id.</summary>
    public static bool TryNormalize(string? value, [NotNullWhen(true)] out string? hostId)
    {
        hostId = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var trimmed = value.Trim();
        if (trimmed.Length is < 8 or > MaxLength)
        {
            return false;
        }

        var digits = 0;
        foreach (var c in trimmed)
        {
            if (char.IsAsciiHexDigit(c))
            {
                digits++;
            }
            else if (c != '-')
            {
                return false;
            }
        }

        if (digits < 8)
        {
            return false;
        }

        hostId = trimmed.ToUpperInvariant();
        return true;
    }
}
