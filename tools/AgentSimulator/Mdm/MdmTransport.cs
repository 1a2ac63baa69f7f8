using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>How a simulated Mac's MDM requests reach the Api, and how they present the Mac's identity.</summary>
public abstract class MdmTransport : IDisposable
{
    /// <summary>The header that carries a detached CMS signature of the body when TLS ends in front of the Api.</summary>
    public const string SignatureHeader = "Mdm-Signature";

    /// <summary>The address MDM paths are relative to, ending in a slash.</summary>
    public abstract Uri BaseAddress { get; }

    /// <summary>A request that takes longer than this counts as an error.</summary>
    public abstract TimeSpan Timeout { get; }

    /// <summary>Sends <paramref name="body"/> with <c>PUT</c> to <paramref name="path"/> as <paramref name="mac"/>.</summary>
    public abstract Task<HttpResponseMessage> PutAsync(
        MacDevice mac, string path, string contentType, byte[] body, CancellationToken cancellationToken);

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    protected static Uri WithSlash(Uri address) =>
        address.AbsoluteUri.EndsWith('/') ? address : new Uri(address.AbsoluteUri + "/");

    protected static HttpRequestMessage Put(Uri address, string contentType, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);

        return new HttpRequestMessage(HttpMethod.Put, address) { Content = content };
    }
}

/// <summary>
/// MDM over TLS with the Mac's identity as the client certificate. The Api's certificate is trusted only when it
/// is exactly <paramref name="serverCertificate"/>: no system trust store, no name check. Each identity has its own
/// connection pool, kept across sessions and replaced when a renewal gives the Mac a new identity.
/// </summary>
public sealed class TlsMdmTransport(Uri mdmUrl, X509Certificate2 serverCertificate, TimeSpan timeout) : MdmTransport
{
    private readonly ConcurrentDictionary<string, Connection> _connections = new(StringComparer.Ordinal);
    private readonly byte[] _pinned = serverCertificate.RawData;

    public override Uri BaseAddress { get; } = WithSlash(mdmUrl);

    public override TimeSpan Timeout => timeout;

    public override async Task<HttpResponseMessage> PutAsync(
        MacDevice mac, string path, string contentType, byte[] body, CancellationToken cancellationToken)
    {
        using var request = Put(new Uri(BaseAddress, path), contentType, body);

        return await ConnectionFor(mac).Http.SendAsync(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var connection in _connections.Values)
        {
            connection.Http.Dispose();
        }

        _connections.Clear();
        base.Dispose(disposing);
    }

    // A Mac sends one request at a time, so the pool of an identity it no longer uses is idle and can go.
    private Connection ConnectionFor(MacDevice mac)
    {
        var identity = mac.Identity;
        if (_connections.TryGetValue(mac.Udid, out var current) && current.Identity == identity)
        {
            return current;
        }

        var connection = new Connection(identity, new HttpClient(Handler(identity)) { Timeout = timeout });
        _connections[mac.Udid] = connection;
        current?.Http.Dispose();

        return connection;
    }

    private SocketsHttpHandler Handler(DeviceIdentity? identity) => new()
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && certificate.GetRawCertData().AsSpan().SequenceEqual(_pinned),
            // The Api may ask for no particular issuer; the Mac presents its identity whatever it is asked.
            LocalCertificateSelectionCallback = (_, _, _, _, _) => identity?.Certificate!,
        },
    };

    private sealed record Connection(DeviceIdentity? Identity, HttpClient Http);
}

/// <summary>
/// MDM over the Api's plain address, as behind a load balancer that ends TLS: every request carries the
/// <c>Mdm-Signature</c> header, a detached CMS signature of its exact body made with the Mac's identity.
/// A Mac without an identity sends no header.
/// </summary>
public sealed class SignedMdmTransport(HttpClient http, Uri api) : MdmTransport
{
    public override Uri BaseAddress { get; } = WithSlash(api);

    public override TimeSpan Timeout => http.Timeout;

    public override async Task<HttpResponseMessage> PutAsync(
        MacDevice mac, string path, string contentType, byte[] body, CancellationToken cancellationToken)
    {
        using var request = Put(new Uri(BaseAddress, path), contentType, body);
        if (mac.Identity is { } identity)
        {
            request.Headers.Add(SignatureHeader, identity.Sign(body));
        }

        return await http.SendAsync(request, cancellationToken);
    }
}
