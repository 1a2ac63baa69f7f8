using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>
/// A simulated Mac's MDM identity: a certificate with its private key, which the Mac presents as its TLS client
/// certificate or signs its request bodies with (<c>Mdm-Signature</c>).
/// </summary>
public sealed class DeviceIdentity
{
    public DeviceIdentity(X509Certificate2 certificate)
    {
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException($"the identity {certificate.Subject} has no private key", nameof(certificate));
        }

        Certificate = certificate;
        Thumbprint = Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Upper-case hex SHA-256 of the DER certificate: what the service records for the host.</summary>
    public string Thumbprint { get; }

    public DateTimeOffset NotAfter => Certificate.NotAfter.ToUniversalTime();

    /// <summary>Opens the PKCS#12 of a renewal profile.</summary>
    /// <exception cref="CryptographicException">The data or password is wrong, or the PKCS#12 holds no key.</exception>
    public static DeviceIdentity FromPkcs12(byte[] pkcs12, string password)
    {
        var certificate = X509CertificateLoader.LoadPkcs12(pkcs12, password, X509KeyStorageFlags.EphemeralKeySet);

        return certificate.HasPrivateKey
            ? new DeviceIdentity(certificate)
            : throw new CryptographicException("the PKCS#12 holds a certificate without its private key");
    }

    /// <summary>
    /// The <c>Mdm-Signature</c> header for <paramref name="body"/>: a base64 detached CMS signature of exactly those
    /// bytes, signed by this identity, carrying only this certificate.
    /// </summary>
    public string Sign(byte[] body)
    {
        var cms = new SignedCms(new ContentInfo(body), detached: true);
        var signer = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, Certificate)
        {
            IncludeOption = X509IncludeOption.EndCertOnly,
        };
        cms.ComputeSignature(signer, silent: true);

        return Convert.ToBase64String(cms.Encode());
    }
}
