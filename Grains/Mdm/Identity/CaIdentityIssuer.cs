using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>
/// Issues device identities from the CA in <c>Fleet:Mdm:Identity:Issuer</c>: an ECDSA P-256 key, subject
/// <c>CN=&lt;UDID&gt;</c>, extended key usage clientAuth, signed by the CA's key. The CA is read once, on first use.
/// </summary>
internal sealed partial class CaIdentityIssuer(
    IOptions<IssuerOptions> options,
    TimeProvider time,
    ILogger<CaIdentityIssuer> logger) : IIdentityIssuer, IDisposable
{
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    // Devices' clocks run a little behind ours; a certificate must already be valid when they first use it.
    private static readonly TimeSpan s_clockSkew = TimeSpan.FromMinutes(5);

    private readonly Lazy<X509Certificate2> _ca = new(() => LoadCa(options.Value), LazyThreadSafetyMode.ExecutionAndPublication);

    public bool CanIssue => options.Value.Configured;

    public Task<IssuedIdentity> IssueAsync(string udid, CancellationToken cancellationToken = default)
    {
        if (!CanIssue)
        {
            throw new InvalidOperationException($"No device CA is configured under {IssuerOptions.SectionName}; no identity can be issued.");
        }

        var ca = _ca.Value;
        var now = time.GetUtcNow();
        // Back-dated for devices whose clocks run slow, but never before the CA itself (a fresh development CA).
        var notBefore = Max(now - s_clockSkew, new DateTimeOffset(ca.NotBefore.ToUniversalTime()));
        var notAfter = now + options.Value.Validity;
        if (notAfter > ca.NotAfter)
        {
            // A certificate cannot outlive its issuer.
            notAfter = ca.NotAfter;
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={udid}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClientAuthentication)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Any())
        {
            // Helps chain building when a CA was re-keyed; a CA without a key identifier gets none.
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        }
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;

        using var certificate = request.Create(ca, notBefore, notAfter, serial);
        using var identity = certificate.CopyWithPrivateKey(key);
        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));

        // Triple-DES and SHA-1 are what Apple's PKCS#12 importers read; the password only guards the command in transit.
        var pkcs12 = identity.ExportPkcs12(Pkcs12ExportPbeParameters.Pkcs12TripleDesSha1, password);
        var facts = DeviceCertificate.Of(certificate, IdentityPresentation.Tls);
        LogIssued(udid, facts.SerialNumber, facts.NotAfter);

        return Task.FromResult(new IssuedIdentity(pkcs12, password, facts));
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    public void Dispose()
    {
        if (_ca.IsValueCreated)
        {
            _ca.Value.Dispose();
        }
    }

    private static X509Certificate2 LoadCa(IssuerOptions settings)
    {
        var ca = X509Certificate2.CreateFromPemFile(settings.CertificateFile!, settings.KeyFile);
        if (!ca.HasPrivateKey)
        {
            ca.Dispose();
            throw new InvalidOperationException($"{IssuerOptions.SectionName}:KeyFile holds no key for the CA certificate.");
        }

        return ca;
    }

    [LoggerMessage(EventId = 160, Level = LogLevel.Information,
        Message = "Issued a device identity for {Udid}: serial {SerialNumber}, not after {NotAfter}")]
    private partial void LogIssued(string udid, string serialNumber, DateTimeOffset notAfter);
}
