namespace Fleet.Grains;

/// <summary>The platform families the service distinguishes.</summary>
public static class Platforms
{
    public const string Darwin = "darwin";
    public const string Linux = "linux";
    public const string Windows = "windows";
    public const string Ios = "ios";
    public const string IPadOs = "ipados";

    private static readonly HashSet<string> s_linuxNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "linux", "ubuntu", "debian", "rhel", "centos", "fedora", "amzn", "arch", "gentoo", "opensuse", "suse",
        "sles", "manjaro", "rocky", "almalinux", "ol", "pop", "linuxmint", "nixos", "kali",
    };

    /// <summary>
    /// The platform as a metric label: one of the families, <c>unknown</c> when none was reported, and
    /// <c>other</c> for whatever else an agent claimed, so that a label never takes unbounded values.
    /// </summary>
    public static string Label(string? platform) => platform switch
    {
        null => "unknown",
        Darwin or Linux or Windows or Ios or IPadOs => platform,
        _ => "other",
    };

    /// <summary>
    /// Maps what osquery reports (<c>os_version.platform</c>, <c>platform_like</c>) onto a family.
    /// osquery names each Linux distribution, so anything it knows as one is <c>linux</c>.
    /// </summary>
    public static string? Normalize(string? platform, string? platformLike = null)
    {
        if (string.IsNullOrWhiteSpace(platform))
        {
            return null;
        }

        var value = platform.Trim().ToLowerInvariant();
        if (value is Darwin or Windows)
        {
            return value;
        }

        if (s_linuxNames.Contains(value))
        {
            return Linux;
        }

        var likes = (platformLike ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);

        return likes.Any(s_linuxNames.Contains) ? Linux : value;
    }

    /// <summary>
    /// The platform of an Apple device from its MDM product name (<c>MacBookPro18,3</c>, <c>iPad2,5</c>);
    /// null when the name is not one the service knows.
    /// </summary>
    public static string? FromAppleProductName(string? productName)
    {
        if (string.IsNullOrEmpty(productName))
        {
            return null;
        }

        if (productName.StartsWith("iPad", StringComparison.Ordinal))
        {
            return IPadOs;
        }

        if (productName.StartsWith("iPhone", StringComparison.Ordinal) || productName.StartsWith("iPod", StringComparison.Ordinal))
        {
            return Ios;
        }

        // Mac covers MacBook, Macmini and MacPro.
        return s_macPrefixes.Any(prefix => productName.StartsWith(prefix, StringComparison.Ordinal)) ? Darwin : null;
    }

    private static readonly string[] s_macPrefixes = ["Mac", "iMac", "VirtualMac"];
}
