using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;

namespace Fleet.Api.Mdm.Identity;

/// <summary>
/// The identity certificate an MDM request came with: the TLS client certificate, or the signer of the
/// <c>Mdm-Signature</c> header (a detached CMS signature of the exact body bytes). When both are present,
/// both must hold and be the same certificate. Only the signature is checked here, not the chain.
/// </summary>
internal sealed record PresentedCertificate(X509Certificate2 Certificate, IdentityPresentation Presentation, X509Certificate2Collection Extra)
{
    public const string SignatureHeader = "Mdm-Signature";

    /// <summary>A base64 CMS signature with one P-256 or RSA certificate is a few KiB; anything far larger is not one.</summary>
    public const int MaxSignatureHeaderLength = 32 * 1024;

    /// <summary>What the host is told about the certificate.</summary>
    public DeviceCertificate Facts => DeviceCertificate.Of(Certificate, Presentation);

    /// <summary>The certificate, or why the request has none that can be used.</summary>
    public static PresentedCertificate? Read(HttpContext context, byte[] body, out string? problem)
    {
        problem = null;
        var tls = context.Connection.ClientCertificate;
        string? header = context.Request.Headers[SignatureHeader];
        if (string.IsNullOrEmpty(header))
        {
            problem = tls is null ? "it presents no identity certificate (neither a TLS client certificate nor an Mdm-Signature header)" : null;

            return tls is null ? null : new PresentedCertificate(tls, IdentityPresentation.Tls, []);
        }

        var signed = ReadSignature(header, body, out problem);
        if (signed is null)
        {
            return null;
        }

        if (tls is not null && !tls.RawDataMemory.Span.SequenceEqual(signed.Certificate.RawDataMemory.Span))
        {
            problem = $"its TLS client certificate ({tls.Subject}) is not the Mdm-Signature signer ({signed.Certificate.Subject})";
            return null;
        }

        return tls is null ? signed : signed with { Presentation = IdentityPresentation.Tls };
    }

    private static PresentedCertificate? ReadSignature(string header, byte[] body, out string? problem)
    {
        problem = null;
        if (header.Length > MaxSignatureHeaderLength)
        {
            problem = $"its Mdm-Signature header is longer than {MaxSignatureHeaderLength} characters";
            return null;
        }

        var bytes = new byte[header.Length];
        if (!Convert.TryFromBase64String(header.Trim(), bytes, out var length))
        {
            problem = "its Mdm-Signature header is not base64";
            return null;
        }

        var cms = new SignedCms(new ContentInfo(body), detached: true);
        try
        {
            cms.Decode(bytes.AsSpan(0, length));
        }
        catch (CryptographicException)
        {
            problem = "its Mdm-Signature header is not a CMS signature";
            return null;
        }

        if (cms.SignerInfos.Count != 1 || cms.SignerInfos[0].Certificate is not { } signer)
        {
            problem = $"its Mdm-Signature has {cms.SignerInfos.Count} signers, or none with a certificate; one is expected";
            return null;
        }

        try
        {
            cms.CheckSignature(verifySignatureOnly: true);
        }
        catch (CryptographicException)
        {
            problem = "its Mdm-Signature does not verify over the body (the body or the signature was altered)";
            return null;
        }

        return new PresentedCertificate(signer, IdentityPresentation.MdmSignature, cms.Certificates);
    }
}
