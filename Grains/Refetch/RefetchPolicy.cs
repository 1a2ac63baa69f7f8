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
    /// <summary>How long after a request (or a retry) the device has to acknowledge this epoch's DeviceInformation.</summary>
    public TimeSpan MdmAckTimeout { get; init; } = RefetchPolicyOptions.DefaultMdmAckTimeout;

    /// <summary>Attempts of the MDM requirement before it fails.</summary>
    public int MdmMaxAttempts { get; init; } = RefetchPolicyOptions.DefaultMdmMaxAttempts;

    public TimeSpan MdmRetryBackoff { get; init; } = RefetchPolicyOptions.DefaultMdmRetryBackoff;

    public TimeSpan MdmMaxRetryBackoff { get; init; } = RefetchPolicyOptions.DefaultMdmMaxRetryBackoff;

    /// <summary>What completes a refetch under this policy.</summary>
    public RefetchChannels Channels => ChannelsFor(Name);

    /// <summary>Extra patience for the given attempt: none for the first, then doubling up to the cap.</summary>
    public TimeSpan BackoffFor(int attempt) => Backoff.For(attempt - 1, RetryBackoff, MaxRetryBackoff);

    /// <summary>The same for the MDM requirement's retries.</summary>
    public TimeSpan MdmBackoffFor(int attempt) => Backoff.For(attempt - 1, MdmRetryBackoff, MdmMaxRetryBackoff);

    /// <summary>
    /// macOS policies need osquery and, when the Mac is enrolled in MDM, the MDM acknowledgement; iOS and
    /// iPadOS need MDM alone; everything else osquery alone.
    /// </summary>
    public static RefetchChannels ChannelsFor(string policyName) => policyName switch
    {
        Platforms.Darwin or "macos14" or "macos15" => RefetchChannels.OsqueryAndMdm,
        Platforms.Ios or Platforms.IPadOs => RefetchChannels.Mdm,
        _ => RefetchChannels.Osquery,
    };

    public static RefetchPolicy From(string name, RefetchPolicyOptions options) => new(
        name,
        options.PickupTimeout,
        options.ResultsTimeout,
        options.MaxAttempts,
        options.RetryBackoff,
        options.MaxRetryBackoff)
    {
        MdmAckTimeout = options.MdmAckTimeout,
        MdmMaxAttempts = options.MdmMaxAttempts,
        MdmRetryBackoff = options.MdmRetryBackoff,
        MdmMaxRetryBackoff = options.MdmMaxRetryBackoff,
    };

    /// <summary>
    /// The policy name for a host: <c>macos14</c> or <c>macos15</c> for those Macs, otherwise the platform
    /// family (<c>darwin</c>, <c>windows</c>, <c>ios</c>, <c>ipados</c>, <c>linux</c>). Platforms the service does not know are verified like Linux, through osquery alone.
    /// </summary>
    public static string NameFor(HostDetails details)
    {
        var platform = details.Platform ?? "linux";
        if (platform == Platforms.Darwin && TryMajorVersion(details.OsVersion, out var major) && major is 14 or 15)
        {
            return $"macos{major}";
        }

        return platform is Platforms.Darwin or Platforms.Windows or Platforms.Ios or Platforms.IPadOs ? platform : Platforms.Linux;
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

/// <summary>What a refetch needs before it is verified.</summary>
public enum RefetchChannels
{
    /// <summary>The agent's detail query results.</summary>
    Osquery,

    /// <summary>Both the detail query results and the MDM acknowledgement, when the host is enrolled in MDM.</summary>
    OsqueryAndMdm,

    /// <summary>The MDM acknowledgement of this epoch's DeviceInformation.</summary>
    Mdm,
}

/// <summary>Exponential backoff: none before the first step, then <c>initial × 2^(step−1)</c>, capped.</summary>
public static class Backoff
{
    public static TimeSpan For(int step, TimeSpan initial, TimeSpan max)
    {
        if (step <= 0 || initial <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var factor = Math.Pow(2, Math.Min(step - 1, 30));
        var ticks = Math.Min(initial.Ticks * factor, max.Ticks);

        return TimeSpan.FromTicks((long)ticks);
    }
}
