using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>When and how device identity certificates are renewed. Bound from <c>Fleet:Mdm:Identity:Renewal</c>.</summary>
public sealed class RenewalOptions
{
    public const string SectionName = "Fleet:Mdm:Identity:Renewal";

    public static readonly TimeSpan DefaultWindow = TimeSpan.FromDays(30);
    public static readonly TimeSpan DefaultOverlap = TimeSpan.FromDays(7);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromHours(1);
    public static readonly TimeSpan DefaultRetryBackoff = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan DefaultMaxRetryBackoff = TimeSpan.FromHours(6);

    /// <summary>How long before a certificate's not-after its renewal is queued.</summary>
    public TimeSpan Window { get; set; } = DefaultWindow;

    /// <summary>How long after a renewal the replaced certificate is still accepted; zero accepts it no longer.</summary>
    public TimeSpan Overlap { get; set; } = DefaultOverlap;

    /// <summary>
    /// How long the device has to answer a RenewIdentity command, and, once it acknowledged it, to present the
    /// new certificate. A command still unanswered then is dropped and retried.
    /// </summary>
    public TimeSpan Timeout { get; set; } = DefaultTimeout;

    /// <summary>Wait before the second attempt after a failed one; doubles with each further attempt.</summary>
    public TimeSpan RetryBackoff { get; set; } = DefaultRetryBackoff;

    /// <summary>The most <see cref="RetryBackoff"/> can grow to.</summary>
    public TimeSpan MaxRetryBackoff { get; set; } = DefaultMaxRetryBackoff;
}

/// <summary>Refuses to start with renewal settings that could never renew or never back off, naming the key.</summary>
internal sealed class RenewalOptionsValidator(IConfiguration configuration) : IValidateOptions<RenewalOptions>
{
    private static readonly string[] s_keys =
    [
        nameof(RenewalOptions.Window), nameof(RenewalOptions.Overlap), nameof(RenewalOptions.Timeout),
        nameof(RenewalOptions.RetryBackoff), nameof(RenewalOptions.MaxRetryBackoff),
    ];

    private static readonly HashSet<string> s_known = new(s_keys, StringComparer.OrdinalIgnoreCase);

    public ValidateOptionsResult Validate(string? name, RenewalOptions options)
    {
        var errors = new List<string>();
        var section = RenewalOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_keys));
        SettingChecks.RequirePositive(errors, $"{section}:Window", options.Window);
        if (options.Overlap < TimeSpan.Zero)
        {
            errors.Add($"{section}:Overlap must not be negative (was {options.Overlap}).");
        }

        SettingChecks.RequirePositive(errors, $"{section}:Timeout", options.Timeout);
        SettingChecks.RequirePositive(errors, $"{section}:RetryBackoff", options.RetryBackoff);
        if (options.MaxRetryBackoff < options.RetryBackoff)
        {
            errors.Add(
                $"{section}:MaxRetryBackoff ({options.MaxRetryBackoff}) must be at least RetryBackoff ({options.RetryBackoff}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
