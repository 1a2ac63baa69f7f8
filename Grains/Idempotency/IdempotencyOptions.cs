using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Idempotency;

/// <summary>How long operator idempotency keys hold their answers. Bound from <c>Fleet:Idempotency</c>.</summary>
public sealed class IdempotencyOptions
{
    public const string SectionName = "Fleet:Idempotency";

    public static readonly TimeSpan DefaultRetention = TimeSpan.FromHours(24);
    public static readonly TimeSpan DefaultClaimTimeout = TimeSpan.FromMinutes(1);

    /// <summary>How long a first answer is replayed to retries; after that the key is forgotten and may be reused.</summary>
    public TimeSpan Retention { get; set; } = DefaultRetention;

    /// <summary>
    /// How long a request may hold its key without answering before another request with the key may run; it
    /// covers an Api process that died mid-request. Keep it above the Api's grain response timeout.
    /// </summary>
    public TimeSpan ClaimTimeout { get; set; } = DefaultClaimTimeout;
}

/// <summary>Refuses to start with a retention or claim time that could not work, naming the key.</summary>
internal sealed class IdempotencyOptionsValidator(IConfiguration configuration) : IValidateOptions<IdempotencyOptions>
{
    private static readonly HashSet<string> s_known = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(IdempotencyOptions.Retention),
        nameof(IdempotencyOptions.ClaimTimeout),
    };

    public ValidateOptionsResult Validate(string? name, IdempotencyOptions options)
    {
        var errors = new List<string>();
        var section = IdempotencyOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_known));
        if (options.Retention < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{section}:Retention must be at least 00:00:01 (was {options.Retention}).");
        }

        SettingChecks.RequirePositive(errors, $"{section}:ClaimTimeout", options.ClaimTimeout);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
