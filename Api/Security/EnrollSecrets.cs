using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Fleet.Api.Security;

/// <summary>Agent enrollment. Bound from <c>Fleet:Agents</c>; re-read on change, so secrets rotate without a restart.</summary>
public sealed class AgentOptions
{
    public const string SectionName = "Fleet:Agents";

    /// <summary>Enroll secrets accepted now. During a rotation list both the old and the new one.</summary>
    public List<string> EnrollSecrets { get; set; } = [];
}

/// <summary>Checks an agent's enroll secret against the current list in constant time.</summary>
public sealed class EnrollSecretVerifier(IOptionsMonitor<AgentOptions> options)
{
    public bool IsValid(string? presented)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > 256)
        {
            return false;
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var valid = false;
        foreach (var secret in options.CurrentValue.EnrollSecrets)
        {
            valid |= CryptographicOperations.FixedTimeEquals(hash, SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
        }

        return valid;
    }
}

internal static class EnrollSecretSetup
{
    public static IServiceCollection AddAgentEnrollment(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AgentOptions>()
            .Bind(configuration.GetSection(AgentOptions.SectionName))
            .Validate(o => o.EnrollSecrets.All(s => s.Length >= 8), $"{AgentOptions.SectionName}:EnrollSecrets entries must be at least 8 characters.")
            .ValidateOnStart();
        services.AddSingleton<EnrollSecretVerifier>();

        return services;
    }
}
