using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Profiles;

/// <summary>How long each step of a configuration profile may take. Bound from <c>Fleet:Mdm:Profiles</c>.</summary>
public sealed class ProfileOptions
{
    public const string SectionName = "Fleet:Mdm:Profiles";

    public static readonly TimeSpan DefaultPendingTimeout = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan DefaultVerifyTimeout = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan DefaultMissingGrace = TimeSpan.FromMinutes(5);
    public const int DefaultMaxAttempts = 2;

    /// <summary>How long a queued InstallProfile or RemoveProfile may wait for the device's answer before it is re-pushed (and, on the last attempt, failed).</summary>
    public TimeSpan PendingTimeout { get; set; } = DefaultPendingTimeout;

    /// <summary>How long after the device acknowledged an InstallProfile osquery or a ProfileList has to confirm it installed.</summary>
    public TimeSpan VerifyTimeout { get; set; } = DefaultVerifyTimeout;

    /// <summary>How long a verifying or verified profile may be reported missing before it is installed again.</summary>
    public TimeSpan MissingGrace { get; set; } = DefaultMissingGrace;

    /// <summary>Sends of one profile before it fails; the first send is attempt 1.</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;
}

/// <summary>
/// Refuses to start with profile settings that could never complete or never fail, naming the key. It reads
/// the raw configuration too, so that a misspelt key is an error rather than a silent default.
/// </summary>
internal sealed class ProfileOptionsValidator(IConfiguration configuration) : IValidateOptions<ProfileOptions>
{
    private static readonly HashSet<string> s_keys = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(ProfileOptions.PendingTimeout),
        nameof(ProfileOptions.VerifyTimeout),
        nameof(ProfileOptions.MissingGrace),
        nameof(ProfileOptions.MaxAttempts),
    };

    public ValidateOptionsResult Validate(string? name, ProfileOptions options)
    {
        var errors = new List<string>();
        var section = ProfileOptions.SectionName;
        SettingChecks.RejectUnknownKeys(
            errors, configuration, section, s_keys, "PendingTimeout, VerifyTimeout, MissingGrace or MaxAttempts");
        SettingChecks.RequirePositive(errors, $"{section}:PendingTimeout", options.PendingTimeout);
        SettingChecks.RequirePositive(errors, $"{section}:VerifyTimeout", options.VerifyTimeout);
        if (options.MissingGrace < TimeSpan.Zero)
        {
            errors.Add($"{section}:MissingGrace must not be negative (was {options.MissingGrace}).");
        }

        SettingChecks.RequireAttempts(errors, $"{section}:MaxAttempts", options.MaxAttempts);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
