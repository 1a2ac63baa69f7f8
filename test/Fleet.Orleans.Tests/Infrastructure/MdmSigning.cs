using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// MDM request bodies as a device sends them through a load balancer: with an <c>Mdm-Signature</c> header
/// made by its identity. Each UDID keeps one identity from <see cref="TestPki.DeviceCa"/> for the test run,
/// so that the host records the same certificate on every request.
/// </summary>
public static class MdmSigning
{
    public const string SignatureHeader = "Mdm-Signature";

    private static readonly ConcurrentDictionary<string, X509Certificate2> s_identities = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The identity of the device <paramref name="udid"/> (subject <c>CN=udid</c>), made on first use.</summary>
    public static X509Certificate2 IdentityFor(string udid) => s_identities.GetOrAdd(udid, u => TestPki.Identity(u));

    /// <summary>The body as request content, signed by <paramref name="identity"/> (none: unsigned).</summary>
    public static ByteArrayContent Content(byte[] body, string? contentType, X509Certificate2? identity)
    {
        var content = new ByteArrayContent(body);
        if (contentType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        if (identity is not null)
        {
            content.Headers.TryAddWithoutValidation(SignatureHeader, TestPki.Sign(body, identity));
        }

        return content;
    }
}
