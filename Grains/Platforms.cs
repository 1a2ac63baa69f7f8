namespace Fleet.Grains;

/// <summary>The platform families the service distinguishes.</summary>
public static class Platforms
{
    public const string Darwin = "darwin";
    public const string Linux = "linux";
    public const string Windows = "windows";

    private static readonly HashSet<string> s_linuxNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "linux", "ubuntu", "debian", "rhel", "centos", "fedora", "amzn", "arch", "gentoo", "opensuse", "suse",
        "sles", "manjaro", "rocky", "almalinux", "ol", "pop", "linuxmint", "nixos", "kali",
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
}
