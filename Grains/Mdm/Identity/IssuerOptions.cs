using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>
/// The CA the silo signs renewed device identities with. Bound from <c>Fleet:Mdm:Identity:Issuer</c>. Without
/// both files no identity is issued, and certificates run out without renewal.
/// </summary>
public sealed class IssuerOptions
{
    public const string SectionName = "Fleet:Mdm:Identity:Issuer";

    public static readonly TimeSpan DefaultValidity = TimeSpan.FromDays(365);

    /// <summary>The CA certificate (PEM); devices' certificates must chain to a CA the Api trusts.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The CA's private key (PEM, PKCS#8 or the algorithm's own form).</summary>
    public string? KeyFile { get; set; }

    /// <summary>How long an issued identity is valid (cut short at the CA's own not-after).</summary>
    public TimeSpan Validity { get; set; } = DefaultValidity;

    /// <summary>True when both files are named.</summary>
    public bool Configured => !string.IsNullOrWhiteSpace(CertificateFile) && !string.IsNullOrWhiteSpace(KeyFile);
}

/// <summary>Refuses to start with an issuer that is half configured or names files that are not there, naming the key.</summary>
internal sealed class IssuerOptionsValidator(IConfiguration configuration) : IValidateOptions<IssuerOptions>
{
    private static readonly string[] s_keys =
        [nameof(IssuerOptions.CertificateFile), nameof(IssuerOptions.KeyFile), nameof(IssuerOptions.Validity)];

    private static readonly HashSet<string> s_known = new(s_keys, StringComparer.OrdinalIgnoreCase);

    public ValidateOptionsResult Validate(string? name, IssuerOptions options)
    {
        var errors = new List<string>();
        var section = IssuerOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_keys));
        var certificate = Named(options.CertificateFile);
        var key = Named(options.KeyFile);
        if (certificate != key)
        {
            errors.Add($"{section}:CertificateFile and {section}:KeyFile must be set together (only {(certificate ? "CertificateFile" : "KeyFile")} is).");
        }

        RequireFile(errors, $"{section}:CertificateFile", options.CertificateFile);
        RequireFile(errors, $"{section}:KeyFile", options.KeyFile);
        SettingChecks.RequirePositive(errors, $"{section}:Validity", options.Validity);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static bool Named(string? path) => !string.IsNullOrWhiteSpace(path);

    private static void RequireFile(List<string> errors, string key, string? path)
    {
        if (Named(path) && !File.Exists(path))
        {
            errors.Add($"{key} names a file that does not exist ('{path}').");
        }
    }
}
