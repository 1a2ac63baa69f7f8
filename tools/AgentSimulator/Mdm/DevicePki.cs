using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>
/// The development PKI that <c>tools/start</c> keeps in its data folder: the device CA the simulated Macs get
/// their identities from (<c>device-ca.pem</c>, <c>device-ca.key</c>) and the Api's TLS certificate
/// (<c>server.pem</c>), the only server certificate the Macs trust.
/// </summary>
public sealed class DevicePki
{
    public const string CaCertificateFile = "device-ca.pem";

    public const string CaKeyFile = "device-ca.key";

    public const string ServerCertificateFile = "server.pem";

    /// <summary>Where <c>tools/start</c> writes them, relative to the repository root.</summary>
    public static readonly string DefaultFolder = Path.Combine(".data", "dev", "pki");

    // A Mac's clock and the Api's may be a little apart; a certificate made this instant must already be valid.
    private static readonly TimeSpan s_backdate = TimeSpan.FromMinutes(5);

    // An expired identity ended this long ago, unless the CA itself is younger than that.
    private static readonly TimeSpan s_expiredAgo = TimeSpan.FromDays(1);

    private static readonly Oid s_clientAuth = new("1.3.6.1.5.5.7.3.2", "TLS Web Client Authentication");

    private readonly X509Certificate2 _ca;
    private readonly X509SignatureGenerator _signer;
    private readonly TimeProvider _clock;

    private DevicePki(string folder, X509Certificate2 ca, X509Certificate2? server, TimeProvider clock)
    {
        Folder = folder;
        _ca = ca;
        _signer = ca.GetECDsaPrivateKey() is { } ecdsa
            ? X509SignatureGenerator.CreateForECDsa(ecdsa)
            : X509SignatureGenerator.CreateForRSA(
                ca.GetRSAPrivateKey() ?? throw new CryptographicException("the device CA's key is neither ECDSA nor RSA"),
                RSASignaturePadding.Pkcs1);
        _clock = clock;
        ServerCertificate = server;
    }

    public string Folder { get; }

    /// <summary>The device CA's certificate (without its key).</summary>
    public X509Certificate2 CaCertificate => X509CertificateLoader.LoadCertificate(_ca.RawData);

    /// <summary>The Api's TLS certificate from <c>server.pem</c>; null when it was not asked for.</summary>
    public X509Certificate2? ServerCertificate { get; }

    /// <summary>
    /// Reads the PKI in <paramref name="folder"/>: always the device CA, and <c>server.pem</c> when
    /// <paramref name="serverCertificate"/>. On failure <paramref name="error"/> names the missing or unreadable files.
    /// </summary>
    public static bool TryLoad(
        string folder, bool serverCertificate, TimeProvider clock,
        [NotNullWhen(true)] out DevicePki? pki, [NotNullWhen(false)] out string? error)
    {
        pki = null;
        string[] needed = serverCertificate
            ? [CaCertificateFile, CaKeyFile, ServerCertificateFile]
            : [CaCertificateFile, CaKeyFile];
        var missing = needed.Where(file => !File.Exists(Path.Combine(folder, file))).ToList();
        if (missing.Count > 0)
        {
            error = $"no development PKI in {folder}: {string.Join(", ", missing)} missing. tools/start creates " +
                "them on its first run; or give --pki DIR with the folder that holds them";

            return false;
        }

        try
        {
            var ca = X509Certificate2.CreateFromPemFile(Path.Combine(folder, CaCertificateFile), Path.Combine(folder, CaKeyFile));
            var server = serverCertificate
                ? X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(folder, ServerCertificateFile)))
                : null;
            pki = new DevicePki(folder, ca, server, clock);
            error = null;

            return true;
        }
        catch (CryptographicException exception)
        {
            error = $"cannot read the development PKI in {folder}: {exception.Message}";

            return false;
        }
    }

    /// <summary>
    /// A new identity for <paramref name="udid"/>: ECDSA P-256, <c>CN=&lt;UDID&gt;</c>, client authentication, a random
    /// serial, valid from now (a few minutes back) for <paramref name="validity"/>, but never past the CA's not-after.
    /// </summary>
    public DeviceIdentity Issue(string udid, TimeSpan validity)
    {
        var now = _clock.GetUtcNow();

        return Issue(udid, Latest(now - s_backdate, CaNotBefore), Earliest(now + validity, CaNotAfter));
    }

    /// <summary>
    /// An identity for <paramref name="udid"/> that has already expired: it ended a day ago (or, for a CA younger than
    /// two days, halfway through the CA's life so far) after being valid for up to <paramref name="validity"/>.
    /// </summary>
    public DeviceIdentity IssueExpired(string udid, TimeSpan validity)
    {
        var now = _clock.GetUtcNow();
        var notAfter = now - CaNotBefore >= 2 * s_expiredAgo
            ? now - s_expiredAgo
            : CaNotBefore + ((now - CaNotBefore) / 2);

        return Issue(udid, Latest(notAfter - validity, CaNotBefore), notAfter);
    }

    private DateTimeOffset CaNotBefore => _ca.NotBefore.ToUniversalTime();

    private DateTimeOffset CaNotAfter => _ca.NotAfter.ToUniversalTime();

    private DeviceIdentity Issue(string udid, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={udid}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([s_clientAuth], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (_ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Any())
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        }

        using var issued = request.Create(_ca.SubjectName, _signer, notBefore, notAfter, RandomSerial());

        return new DeviceIdentity(issued.CopyWithPrivateKey(key));
    }

    // Positive and without a leading zero byte, so the DER integer keeps all 16 bytes.
    private static byte[] RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);

        return serial;
    }

    private static DateTimeOffset Latest(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Earliest(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
