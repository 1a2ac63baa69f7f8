using Fleet.Contracts;

namespace Fleet.Grains.Refetch;

/// <summary>The deadlines and retries that apply to one host's refetch, resolved from its platform.</summary>
public sealed record RefetchPolicy(
    string Name,
    TimeSpan PickupTimeout,
    TimeSpan ResultsTimeout,
    int MaxAttempts,
    TimeSpan RetryBackoff,
    TimeSpan MaxRetryBackoff)
{
    /// <summary>Extra patience for the given attempt: none for the first, then doubling up to the cap.</summary>
    public TimeSpan BackoffFor(int attempt)
    {
        if (attempt <= 1 || RetryBackoff == TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var factor = Math.Pow(2, Math.Min(attempt - 2, 30));
        var ticks = Math.Min(RetryBackoff.Ticks * factor, MaxRetryBackoff.Ticks);

        return TimeSpan.FromTicks((long)ticks);
    }

    public static RefetchPolicy From(string name, RefetchPolicyOptions options) => new(
        name,
        options.PickupTimeout,
        options.ResultsTimeout,
        options.MaxAttempts,
        options.RetryBackoff,
        options.MaxRetryBackoff);

    /// <summary>
    /// The policy name for a host: <c>macos14</c> or <c>macos15</c> for those Macs, otherwise the platform
    /// family. Platforms the service does not know are verified like Linux, through osquery alone.
    /// </summary>
    public static string NameFor(HostDetails details)
    {
        var platform = details.Platform ?? "linux";
        if (platform == Platforms.Darwin && TryMajorVersion(details.OsVersion, out var major) && major is 14 or 15)
        {
            return $"macos{major}";
        }

        return platform is Platforms.Darwin or Platforms.Windows ? platform : Platforms.Linux;
    }

    private static bool TryMajorVersion(string? version, out int major)
    {
        major = 0;
        if (string.IsNullOrEmpty(version))
        {
            return false;
        }

        var dot = version.IndexOf('.', StringComparison.Ordinal);
        var head = dot < 0 ? version : version[..dot];

        return int.TryParse(head, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out major);
    }
}
