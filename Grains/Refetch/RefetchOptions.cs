using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Refetch;

/// <summary>How long each refetch step may take, per platform. Bound from <c>Fleet:Refetch</c>.</summary>
public sealed class RefetchOptions
{
    public const string SectionName = "Fleet:Refetch";

    /// <summary>The policy names that always exist; missing ones get the defaults of <see cref="RefetchPolicyOptions"/>.</summary>
    public static readonly IReadOnlyList<string> RequiredPolicies = ["darwin", "macos14", "macos15", "linux", "windows", "ios", "ipados"];

    public static readonly TimeSpan DefaultReminderPeriod = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Period of the durable reminder that re-activates a host after a crash while a refetch is in flight.
    /// A host is never left in flight longer than its deadline plus this period. Orleans refuses periods
    /// below its own <c>ReminderOptions.MinimumReminderPeriod</c>, which the silo lowers to match.
    /// </summary>
    public TimeSpan ReminderPeriod { get; set; } = DefaultReminderPeriod;

    /// <summary>Policies by name: <c>darwin</c>, <c>macos14</c>, <c>macos15</c>, <c>linux</c>, <c>windows</c>, <c>ios</c>, <c>ipados</c>.</summary>
    public Dictionary<string, RefetchPolicyOptions> Policies { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>The deadlines and retries of one platform's refetch.</summary>
public sealed class RefetchPolicyOptions
{
    public static readonly TimeSpan DefaultPickupTimeout = TimeSpan.FromMinutes(2);
    public static readonly TimeSpan DefaultResultsTimeout = TimeSpan.FromMinutes(2);
    public static readonly TimeSpan DefaultRetryBackoff = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultMaxRetryBackoff = TimeSpan.FromMinutes(5);
    public const int DefaultMaxAttempts = 3;
    public static readonly TimeSpan DefaultMdmAckTimeout = TimeSpan.FromMinutes(5);
    public const int DefaultMdmMaxAttempts = 3;
    public static readonly TimeSpan DefaultMdmRetryBackoff = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan DefaultMdmMaxRetryBackoff = TimeSpan.FromMinutes(10);

    /// <summary>How long after a request (or a retry) the agent has to ask for its detail queries.</summary>
    public TimeSpan PickupTimeout { get; set; } = DefaultPickupTimeout;

    /// <summary>How long after taking the queries the agent has to send their results.</summary>
    public TimeSpan ResultsTimeout { get; set; } = DefaultResultsTimeout;

    /// <summary>Attempts before the refetch fails; the first request is attempt 1.</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;

    /// <summary>Extra patience added to the first retry's deadline; it doubles with each further retry.</summary>
    public TimeSpan RetryBackoff { get; set; } = DefaultRetryBackoff;

    /// <summary>The most <see cref="RetryBackoff"/> can grow to.</summary>
    public TimeSpan MaxRetryBackoff { get; set; } = DefaultMaxRetryBackoff;

    /// <summary>
    /// How long after a request (or a retry) an MDM-enrolled device has to acknowledge the epoch's
    /// <c>DeviceInformation</c>: the push, the device waking, and its answer all fit in it.
    /// </summary>
    public TimeSpan MdmAckTimeout { get; set; } = DefaultMdmAckTimeout;

    /// <summary>Attempts of the MDM requirement before the refetch fails; each retry re-pushes.</summary>
    public int MdmMaxAttempts { get; set; } = DefaultMdmMaxAttempts;

    /// <summary>Extra patience added to the MDM requirement's first retry; it doubles with each further retry.</summary>
    public TimeSpan MdmRetryBackoff { get; set; } = DefaultMdmRetryBackoff;

    /// <summary>The most <see cref="MdmRetryBackoff"/> can grow to.</summary>
    public TimeSpan MdmMaxRetryBackoff { get; set; } = DefaultMdmMaxRetryBackoff;
}

/// <summary>Fills in the required policies that configuration left out.</summary>
internal sealed class RefetchOptionsDefaults : IPostConfigureOptions<RefetchOptions>
{
    public void PostConfigure(string? name, RefetchOptions options)
    {
        foreach (var policy in RefetchOptions.RequiredPolicies)
        {
            options.Policies.TryAdd(policy, new RefetchPolicyOptions());
        }
    }
}

/// <summary>
/// Refuses to start with a policy that could never complete or never fail, naming the key. It also reads
/// the raw configuration, because the binder drops a dictionary entry it cannot convert (a policy with
/// <c>PickupTimeout=banana</c> would silently fall back to every default), and ignores misspelt keys.
/// </summary>
internal sealed class RefetchOptionsValidator(IConfiguration configuration) : IValidateOptions<RefetchOptions>
{
    private static readonly HashSet<string> s_timeSpanKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(RefetchPolicyOptions.PickupTimeout),
        nameof(RefetchPolicyOptions.ResultsTimeout),
        nameof(RefetchPolicyOptions.RetryBackoff),
        nameof(RefetchPolicyOptions.MaxRetryBackoff),
        nameof(RefetchPolicyOptions.MdmAckTimeout),
        nameof(RefetchPolicyOptions.MdmRetryBackoff),
        nameof(RefetchPolicyOptions.MdmMaxRetryBackoff),
    };

    private static readonly HashSet<string> s_countKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(RefetchPolicyOptions.MaxAttempts),
        nameof(RefetchPolicyOptions.MdmMaxAttempts),
    };

    public ValidateOptionsResult Validate(string? name, RefetchOptions options)
    {
        var errors = new List<string>();
        var section = RefetchOptions.SectionName;
        CheckRawPolicies(errors, section);
        if (options.ReminderPeriod < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{section}:ReminderPeriod must be at least 00:00:01 (was {options.ReminderPeriod}).");
        }

        foreach (var (policyName, policy) in options.Policies)
        {
            var key = $"{section}:Policies:{policyName}";
            SettingChecks.RequirePositive(errors, $"{key}:PickupTimeout", policy.PickupTimeout);
            SettingChecks.RequirePositive(errors, $"{key}:ResultsTimeout", policy.ResultsTimeout);
            SettingChecks.RequirePositive(errors, $"{key}:MdmAckTimeout", policy.MdmAckTimeout);
            SettingChecks.RequireAttempts(errors, $"{key}:MaxAttempts", policy.MaxAttempts);
            SettingChecks.RequireAttempts(errors, $"{key}:MdmMaxAttempts", policy.MdmMaxAttempts);
            RequireBackoff(errors, key, nameof(policy.RetryBackoff), policy.RetryBackoff, nameof(policy.MaxRetryBackoff), policy.MaxRetryBackoff);
            RequireBackoff(errors, key, nameof(policy.MdmRetryBackoff), policy.MdmRetryBackoff, nameof(policy.MdmMaxRetryBackoff), policy.MdmMaxRetryBackoff);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private void CheckRawPolicies(List<string> errors, string section)
    {
        foreach (var policy in configuration.GetSection($"{section}:Policies").GetChildren())
        {
            foreach (var setting in policy.GetChildren())
            {
                var key = $"{section}:Policies:{policy.Key}:{setting.Key}";
                var value = setting.Value;
                if (s_timeSpanKeys.Contains(setting.Key))
                {
                    if (!TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out _))
                    {
                        errors.Add($"{key} must be a time span such as 00:02:00 (was '{value}').");
                    }
                }
                else if (s_countKeys.Contains(setting.Key))
                {
                    if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
                    {
                        errors.Add($"{key} must be a whole number (was '{value}').");
                    }
                }
                else
                {
                    errors.Add(
                        $"{key} is not a setting; use PickupTimeout, ResultsTimeout, MaxAttempts, RetryBackoff, MaxRetryBackoff, " +
                        "MdmAckTimeout, MdmMaxAttempts, MdmRetryBackoff or MdmMaxRetryBackoff.");
                }
            }
        }
    }

    private static void RequireBackoff(List<string> errors, string policyKey, string name, TimeSpan backoff, string maxName, TimeSpan max)
    {
        if (backoff < TimeSpan.Zero)
        {
            errors.Add($"{policyKey}:{name} must not be negative (was {backoff}).");
        }

        if (max < backoff)
        {
            errors.Add($"{policyKey}:{maxName} ({max}) must be at least {name} ({backoff}).");
        }
    }
}
