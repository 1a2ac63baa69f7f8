using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Fleet.Grains.Webhooks;

/// <summary>
/// The <c>Fleet-Signature</c> header: <c>t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</c>, where the hex is the lowercase
/// HMAC-SHA256, keyed with the shared secret, of <c>"&lt;t&gt;."</c> followed by the exact body bytes. Signing the
/// time with the body lets a receiver refuse a replayed request once <c>t</c> is old.
/// </summary>
public static class WebhookSignature
{
    public const string HeaderName = "Fleet-Signature";

    public static string Header(ReadOnlySpan<byte> secret, long unixSeconds, ReadOnlySpan<byte> body) =>
        $"t={unixSeconds.ToString(CultureInfo.InvariantCulture)},v1={Convert.ToHexStringLower(Sign(secret, unixSeconds, body))}";

    public static byte[] Sign(ReadOnlySpan<byte> secret, long unixSeconds, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.ASCII.GetBytes(unixSeconds.ToString(CultureInfo.InvariantCulture) + ".");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret);
        hmac.AppendData(prefix);
        hmac.AppendData(body);

        return hmac.GetHashAndReset();
    }
}
