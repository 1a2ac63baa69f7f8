using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Fleet.Api.Mdm.Identity;

/// <summary>
/// The device CAs the Api trusts for MDM identity certificates. Bound from <c>Fleet:Mdm:Identity</c>; the
/// silo reads its own keys (<c>Issuer</c>, <c>Renewal</c>) from the same section. Read once at start.
/// </summary>
public sealed class DeviceCaOptions
{
    public const string SectionName = "Fleet:Mdm:Identity";

    /// <summary>
    /// PEM files, each with one or more CA certificates (basicConstraints CA:TRUE). A device identity must
    /// chain to one of them. None configured: every MDM request is refused with 401.
    /// </summary>
    public List<string> TrustedCaFiles { get; set; } = [];
}

/// <summary>Reads a PEM file of CA certificates, or says in one sentence why it cannot be used.</summary>
internal static class DeviceCaFile
{
    public static X509Certificate2Collection? TryLoad(string path, out string? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(path))
        {
            error = "is empty; name a PEM file of CA certificates.";
            return null;
        }

        if (!File.Exists(path))
        {
            error = $"names '{path}', which does not exist.";
            return null;
        }

        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or CryptographicException)
        {
            error = $"names '{path}', which cannot be read as PEM certificates ({exception.Message.TrimEnd('.')}).";
            return null;
        }

        if (certificates.Count == 0)
        {
            error = $"names '{path}', which holds no PEM certificate.";
            return null;
        }

        if (certificates.FirstOrDefault(c => !IsCa(c)) is { } leaf)
        {
            error = $"names '{path}', whose certificate '{leaf.Subject}' is not a CA (it lacks basicConstraints CA:TRUE).";
            return null;
        }

        return certificates;
    }

    private static bool IsCa(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);
}

internal sealed class DeviceCaOptionsValidator : IValidateOptions<DeviceCaOptions>
{
    public ValidateOptionsResult Validate(string? name, DeviceCaOptions options)
    {
        var errors = new List<string>();
        for (var i = 0; i < options.TrustedCaFiles.Count; i++)
        {
            var loaded = DeviceCaFile.TryLoad(options.TrustedCaFiles[i], out var error);
            if (error is not null)
            {
                errors.Add($"{DeviceCaOptions.SectionName}:TrustedCaFiles:{i} {error}");
            }

            foreach (var certificate in loaded ?? [])
            {
                certificate.Dispose();
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>The configured device CA certificates, loaded once from the validated options.</summary>
public sealed class TrustedDeviceCas
{
    public TrustedDeviceCas(IOptions<DeviceCaOptions> options)
    {
        foreach (var file in options.Value.TrustedCaFiles)
        {
            Certificates.AddRange(DeviceCaFile.TryLoad(file, out var error)
                ?? throw new InvalidOperationException($"{DeviceCaOptions.SectionName}:TrustedCaFiles {error}"));
        }
    }

    public X509Certificate2Collection Certificates { get; } = [];

    public bool IsConfigured => Certificates.Count > 0;
}

/// <summary>Loads the device CAs at start, and warns when there are none: every MDM request then gets 401.</summary>
internal sealed partial class DeviceCaStartupCheck(TrustedDeviceCas cas, ILogger<DeviceCaStartupCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (cas.IsConfigured)
        {
            LogTrusted(cas.Certificates.Count, string.Join("; ", cas.Certificates.Select(c => c.Subject)));
        }
        else
        {
            LogNoneConfigured();
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 520, Level = LogLevel.Warning,
        Message = "No device CA is configured (Fleet:Mdm:Identity:TrustedCaFiles): every MDM request will be refused with 401")]
    private partial void LogNoneConfigured();

    [LoggerMessage(EventId = 521, Level = LogLevel.Information, Message = "MDM identity certificates must chain to one of {Count} device CAs: {Subjects}")]
    private partial void LogTrusted(int count, string subjects);
}

internal static class DeviceIdentitySetup
{
    public static IServiceCollection AddMdmDeviceIdentity(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DeviceCaOptions>()
            .Bind(configuration.GetSection(DeviceCaOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<DeviceCaOptions>, DeviceCaOptionsValidator>();
        services.AddSingleton<TrustedDeviceCas>();
        services.AddHostedService<DeviceCaStartupCheck>();
        services.AddSingleton<MdmAuthenticator>();
        services.TryAddSingleton(TimeProvider.System);

        return services;
    }
}
