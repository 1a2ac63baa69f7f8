using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// Certificates made in the tests: the device CA the test Api trusts and the test silo issues renewals
/// from, a second CA nobody trusts, and device identities of any validity. Keys are ECDSA P-256, made
/// once per CA. <see cref="Folder"/> holds the trusted CA's PEM files for the product's configuration.
/// </summary>
public static class TestPki
{
    private static readonly Lazy<TestCa> Trusted = new(() => TestCa.Create("Fleet.Orleans test device CA"));
    private static readonly Lazy<TestCa> Untrusted = new(() => TestCa.Create("Some other device CA"));
    private static readonly Lazy<string> FolderPath = new(WriteFolder);

    /// <summary>The CA the test Api trusts (<c>Fleet:Mdm:Identity:TrustedCaFiles</c>) and the test silo issues from.</summary>
    public static TestCa DeviceCa => Trusted.Value;

    /// <summary>A CA that chains nowhere the product trusts.</summary>
    public static TestCa OtherCa => Untrusted.Value;

    /// <summary>A folder with <c>device-ca.pem</c> and <c>device-ca.key</c> (the trusted CA).</summary>
    public static string Folder => FolderPath.Value;

    public static string CaCertificateFile => Path.Combine(Folder, "device-ca.pem");

    public static string CaKeyFile => Path.Combine(Folder, "device-ca.key");

    /// <summary>A device identity for <paramref name="udid"/> from the trusted CA, valid from <paramref name="notBefore"/> to <paramref name="notAfter"/>.</summary>
    public static X509Certificate2 Identity(string udid, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null) =>
        DeviceCa.Issue(udid, notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(365));

    /// <summary>A self-signed certificate naming <paramref name="udid"/>: signed by no CA.</summary>
    public static X509Certificate2 SelfSigned(string udid)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={udid}", key, HashAlgorithmName.SHA256);
        AddClientExtensions(request);

        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(365));
    }

    /// <summary>A self-signed TLS server certificate for 127.0.0.1 and localhost, like tools/start's, with its key.</summary>
    public static X509Certificate2 ServerCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));

        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    /// <summary>The <c>Mdm-Signature</c> header value: a base64 detached CMS signature of <paramref name="body"/>.</summary>
    public static string Sign(byte[] body, X509Certificate2 identity)
    {
        var cms = new SignedCms(new ContentInfo(body), detached: true);
        cms.ComputeSignature(new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, identity) { IncludeOption = X509IncludeOption.EndCertOnly });

        return Convert.ToBase64String(cms.Encode());
    }

    private static void AddClientExtensions(CertificateRequest request)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
    }

    private static string WriteFolder()
    {
        var folder = Directory.CreateTempSubdirectory("fleet-test-pki-").FullName;
        File.WriteAllText(Path.Combine(folder, "device-ca.pem"), DeviceCa.Certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(folder, "device-ca.key"), DeviceCa.Key.ExportPkcs8PrivateKeyPem());

        return folder;
    }

    /// <summary>A certificate authority made in memory.</summary>
    public sealed class TestCa
    {
        private TestCa(X509Certificate2 certificate, ECDsa key) => (Certificate, Key) = (certificate, key);

        public X509Certificate2 Certificate { get; }

        public ECDsa Key { get; }

        public static TestCa Create(string name)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));

            return new TestCa(request.CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddYears(10)), key);
        }

        /// <summary>A device identity (with its key) for <paramref name="udid"/>, signed by this CA.</summary>
        public X509Certificate2 Issue(string udid, DateTimeOffset notBefore, DateTimeOffset notAfter)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={udid}, O=Fleet.Orleans tests", key, HashAlgorithmName.SHA256);
            AddClientExtensions(request);
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
            var serial = RandomNumberGenerator.GetBytes(12);
            serial[0] &= 0x7F;
            using var issued = request.Create(Certificate, notBefore, notAfter, serial);

            return issued.CopyWithPrivateKey(key);
        }
    }
}
