using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Fleet.Api.Mdm.Identity;

/// <summary>What authentication made of an MDM request: the certificate's facts for the host, or the refusal to send.</summary>
internal readonly record struct MdmAuthentication(DeviceCertificate? Certificate, ProblemHttpResult? Refusal);

/// <summary>
/// Authenticates every MDM request by the device's identity certificate. The Api checks what needs no
/// state: the signature, the chain to a configured device CA, the validity period and that the subject
/// names the claimed device. The host grain then decides whether it is the certificate it recorded
/// (<see cref="IdentityVerdict"/>). Every refusal is problem+json and one Warning naming the claimed UDID.
/// </summary>
internal sealed partial class MdmAuthenticator(
    TrustedDeviceCas cas, IGrainFactory grains, TimeProvider time, ILogger<MdmAuthenticator> logger)
{
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// Checks the request's certificate. <paramref name="hostId"/> is the claimed device when the body named
    /// a valid UDID (null otherwise); <paramref name="claimed"/> is what it said, for the log.
    /// </summary>
    public async Task<MdmAuthentication> AuthenticateAsync(HttpContext context, byte[] body, string? hostId, string? claimed)
    {
        if (!cas.IsConfigured)
        {
            return Unauthorized(claimed, "no device CA is configured");
        }

        var presented = PresentedCertificate.Read(context, body, out var problem);
        if (presented is null)
        {
            return Unauthorized(claimed, problem!);
        }

        var certificate = presented.Certificate;
        var now = time.GetUtcNow();
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        if (now < notBefore)
        {
            return Unauthorized(claimed, $"its certificate {Describe(certificate)} is not valid before {Time(notBefore)}");
        }

        // An expired certificate is still checked for its chain, as of its last valid second: only a
        // device CA's certificate may tell a host that its identity has expired.
        var expired = notAfter < now;
        if (ChainProblem(presented, expired ? notAfter.AddSeconds(-1) : now) is { } chain)
        {
            return Unauthorized(claimed, $"its certificate {Describe(certificate)} does not chain to a configured device CA (issuer '{Printable(certificate.Issuer)}'): {chain}");
        }

        if (!AllowsClientAuthentication(certificate))
        {
            return Unauthorized(claimed, $"its certificate {Describe(certificate)} is not for client authentication (extended key usage)");
        }

        var named = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        if (hostId is not null && HostIds.TryNormalize(named, out var owner) && owner != hostId)
        {
            return Forbidden(claimed, $"its certificate {Describe(certificate)} was issued to device {owner}");
        }

        var facts = presented.Facts;
        if (expired)
        {
            if (hostId is not null)
            {
                await grains.GetGrain<IHostGrain>(hostId).MdmCertificateExpiredAsync(facts);
            }

            return Unauthorized(claimed, $"its certificate {Describe(certificate)} expired at {Time(notAfter)}");
        }

        return new MdmAuthentication(facts, null);
    }

    /// <summary>
    /// The refusal for what the host made of the certificate, or null when it accepted it. The host's
    /// <paramref name="problem"/> goes to the log only: it may name the host's recorded certificate or the
    /// host that owns the presented one, which the device is not told.
    /// </summary>
    public ProblemHttpResult? Refusal(IdentityVerdict verdict, string hostId, DeviceCertificate certificate, string? problem)
    {
        var presented = Describe(certificate);
        var why = problem?.TrimEnd('.');

        return verdict switch
        {
            IdentityVerdict.Accepted => null,
            IdentityVerdict.Foreign => Forbidden(hostId, $"its certificate {presented} belongs to another device", why).Refusal,
            IdentityVerdict.Expired => Unauthorized(hostId, $"its certificate {presented} has expired", why).Refusal,
            _ => Unauthorized(hostId, $"its certificate {presented} is not one this device's record accepts", why).Refusal,
        };
    }

    /// <summary>Null when the certificate chains to a configured CA at <paramref name="at"/>; otherwise the chain's complaints.</summary>
    private string? ChainProblem(PresentedCertificate presented, DateTimeOffset at)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(cas.Certificates);
        chain.ChainPolicy.ExtraStore.AddRange(presented.Extra);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        try
        {
            return chain.Build(presented.Certificate)
                ? null
                : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct(StringComparer.Ordinal));
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, presented.Certificate))
                {
                    element.Certificate.Dispose();
                }
            }
        }
    }

    private static bool AllowsClientAuthentication(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is not { } usage
        || usage.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == ClientAuthentication);

    /// <summary>A 401 telling the device <paramref name="why"/>; the log line says <paramref name="logged"/> when given.</summary>
    private MdmAuthentication Unauthorized(string? udid, string why, string? logged = null)
    {
        LogRefused(udid ?? "(unknown)", StatusCodes.Status401Unauthorized, logged ?? why);

        return new MdmAuthentication(null, TypedResults.Problem(
            $"The device was not authenticated: {why}.", statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized"));
    }

    private MdmAuthentication Forbidden(string? udid, string why, string? logged = null)
    {
        LogRefused(udid ?? "(unknown)", StatusCodes.Status403Forbidden, logged ?? why);

        return new MdmAuthentication(null, TypedResults.Problem(
            $"The certificate may not speak for this device: {why}.", statusCode: StatusCodes.Status403Forbidden, title: "Forbidden"));
    }

    private static string Describe(X509Certificate2 certificate) => $"'{Printable(certificate.Subject)}' (serial {certificate.SerialNumber})";

    private static string Describe(DeviceCertificate certificate) => $"'{Printable(certificate.Subject)}' (serial {certificate.SerialNumber})";

    /// <summary>A name from a certificate anyone can make, safe for one log line: control characters become '?', at most 200 characters.</summary>
    private static string Printable(string name)
    {
        var visible = new string([.. name.Take(200).Select(c => char.IsControl(c) ? '?' : c)]);

        return name.Length > 200 ? visible + "…" : visible;
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 522, Level = LogLevel.Warning, Message = "MDM request from UDID {Udid} refused with {Status}: {Reason}")]
    private partial void LogRefused(string udid, int status, string reason);
}
