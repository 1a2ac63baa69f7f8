using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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

/// <summary>
/// Refuses to start with an issuer that is half configured, names files that are not there or that are not a
/// certificate and its key, or issues identities no longer than the renewal window (each would be renewed
/// again at once), naming the key.
/// </summary>
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

        var certificateExists = RequireFile(errors, $"{section}:CertificateFile", options.CertificateFile);
        var keyExists = RequireFile(errors, $"{section}:KeyFile", options.KeyFile);
        SettingChecks.RequirePositive(errors, $"{section}:Validity", options.Validity);
        if (certificateExists && keyExists)
        {
            RequirePair(errors, section, options);
        }

        var window = configuration.GetSection(RenewalOptions.SectionName).GetValue(nameof(RenewalOptions.Window), RenewalOptions.DefaultWindow);
        if (options.Configured && options.Validity > TimeSpan.Zero && options.Validity <= window)
        {
            errors.Add($"{section}:Validity ({options.Validity:c}) must be longer than {RenewalOptions.SectionName}:Window ({window:c}): " +
                "every renewed identity would be due for renewal again at once.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static bool Named(string? path) => !string.IsNullOrWhiteSpace(path);

    /// <summary>True when <paramref name="path"/> names a file that exists.</summary>
    private static bool RequireFile(List<string> errors, string key, string? path)
    {
        if (!Named(path))
        {
            return false;
        }

        if (!File.Exists(path))
        {
            errors.Add($"{key} names a file that does not exist ('{path}').");
            return false;
        }

        return true;
    }

    private static void RequirePair(List<string> errors, string section, IssuerOptions options)
    {
        try
        {
            using var ca = X509Certificate2.CreateFromPemFile(options.CertificateFile!, options.KeyFile);
            if (ca.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
            {
                errors.Add($"{section}:CertificateFile ('{options.CertificateFile}') is not a CA certificate (basic constraints CA:TRUE).");
            }
        }
        catch (Exception exception) when (exception is CryptographicException or ArgumentException)
        {
            errors.Add($"{section}:CertificateFile and {section}:KeyFile are not a certificate and its private key: {exception.Message}");
        }
    }
}

/// <summary>Says at start-up when no issuer is configured: certificates are still checked and expire, but none is renewed.</summary>
internal sealed partial class IssuerStartupReport(IOptions<IssuerOptions> options, ILogger<IssuerStartupReport> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.Configured)
        {
            LogNoIssuer(IssuerOptions.SectionName);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 145, Level = LogLevel.Warning,
        Message = "No device identity issuer is configured ({Section}:CertificateFile and KeyFile): identity certificates are checked and expire, but none is renewed")]
    private partial void LogNoIssuer(string section);
}
