using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Fleet.AgentSimulator.Mdm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Fleet.Tests.Simulator;

/// <summary>What the loopback server received: the path, the exact body, the Mdm-Signature header and the TLS client certificate.</summary>
internal sealed record ReceivedRequest(string Path, byte[] Body, string? Signature, X509Certificate2? ClientCertificate);

/// <summary>
/// A Kestrel on 127.0.0.1 standing in for the Api's MDM endpoints: it records every request and answers what
/// <c>answer</c> says for it. With a certificate it listens over TLS and takes any client certificate.
/// </summary>
internal sealed class LoopbackMdmServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private readonly WebApplication _app;

    private LoopbackMdmServer(WebApplication app) => _app = app;

    public Uri Url => new(_app.Urls.Single());

    public IReadOnlyList<ReceivedRequest> Requests => [.. _requests];

    public static async Task<LoopbackMdmServer> StartAsync(
        X509Certificate2? tls, Func<ReceivedRequest, (HttpStatusCode Status, string Body)> answer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (tls is not null)
            {
                listen.UseHttps(tls, https =>
                {
                    https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    https.AllowAnyClientCertificate();
                });
            }
        }));
        builder.Logging.ClearProviders();
        var server = new LoopbackMdmServer(builder.Build());
        server._app.Run(server.ReceiveAsync(answer));
        await server._app.StartAsync(TestContext.Current.CancellationToken);

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private RequestDelegate ReceiveAsync(Func<ReceivedRequest, (HttpStatusCode Status, string Body)> answer) => async context =>
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var signature = context.Request.Headers[MdmTransport.SignatureHeader];
        var received = new ReceivedRequest(
            context.Request.Path.Value ?? "",
            body.ToArray(),
            signature.Count == 0 ? null : signature.ToString(),
            context.Connection.ClientCertificate);
        _requests.Enqueue(received);
        var (status, text) = answer(received);
        context.Response.StatusCode = (int)status;
        context.Response.ContentType = status == HttpStatusCode.OK ? "application/xml" : "application/problem+json";
        await context.Response.WriteAsync(text, context.RequestAborted);
    };
}
