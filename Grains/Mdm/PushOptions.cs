using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Mdm;

/// <summary>How the service wakes devices over MDM. Bound from <c>Fleet:Mdm:Push</c>.</summary>
public sealed class PushOptions
{
    public const string SectionName = "Fleet:Mdm:Push";

    /// <summary>The APNs-shaped push gateway; the shipped one is the simulator's loopback gateway.</summary>
    public Uri GatewayUrl { get; set; } = new("http://127.0.0.1:2197");

    /// <summary>The longest one push may take before it counts as unreachable.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>When the push certificate expires; from then on every push fails without a request.</summary>
    public DateTimeOffset? CertificateNotAfter { get; set; }

    /// <summary>Wait before the first re-push of commands still unanswered; doubles with each re-push.</summary>
    public TimeSpan RepushBackoff { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The most <see cref="RepushBackoff"/> can grow to.</summary>
    public TimeSpan MaxRepushBackoff { get; set; } = TimeSpan.FromMinutes(15);
}

/// <summary>Refuses to start with push settings that could never deliver or never back off, naming the key.</summary>
internal sealed class PushOptionsValidator(IConfiguration configuration) : IValidateOptions<PushOptions>
{
    private static readonly string[] s_keys =
    [
        nameof(PushOptions.GatewayUrl), nameof(PushOptions.Timeout), nameof(PushOptions.CertificateNotAfter),
        nameof(PushOptions.RepushBackoff), nameof(PushOptions.MaxRepushBackoff),
    ];

    private static readonly HashSet<string> s_known = new(s_keys, StringComparer.OrdinalIgnoreCase);

    // A push that has not been answered in a minute will not be; longer only holds the host's turn.
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(1);

    public ValidateOptionsResult Validate(string? name, PushOptions options)
    {
        var errors = new List<string>();
        var section = PushOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_keys));

        if (options.GatewayUrl is not { IsAbsoluteUri: true, Scheme: "http" or "https" })
        {
            errors.Add($"{section}:GatewayUrl must be an absolute http or https address (was '{options.GatewayUrl}').");
        }

        SettingChecks.RequirePositive(errors, $"{section}:Timeout", options.Timeout);
        if (options.Timeout > MaxTimeout)
        {
            errors.Add($"{section}:Timeout must be at most {MaxTimeout} (was {options.Timeout}).");
        }

        SettingChecks.RequirePositive(errors, $"{section}:RepushBackoff", options.RepushBackoff);
        if (options.MaxRepushBackoff < options.RepushBackoff)
        {
            errors.Add(
                $"{section}:MaxRepushBackoff ({options.MaxRepushBackoff}) must be at least RepushBackoff ({options.RepushBackoff}).");
        }

        // CertificateNotAfter needs no check: any instant is a valid expiry, and leaving it out means "never".
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
