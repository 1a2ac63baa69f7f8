using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>
/// A stand-in for APNs on 127.0.0.1 that the simulated Macs listen on. It takes the push the service sends
/// (<c>POST /3/device/{token}</c>, <c>{"mdm":"&lt;push magic&gt;"}</c>), finds the Mac with that token and wakes it;
/// it answers like APNs: 200, 410 <c>Unregistered</c> for an unknown token, 400 for a wrong topic or an empty
/// payload, and, when told the push certificate has expired, 403 <c>ExpiredProviderToken</c> for every push.
/// </summary>
public sealed class PushGateway : IAsyncDisposable
{
    private const int MaxBodyBytes = 4096;

    private readonly ConcurrentDictionary<string, MacDevice> _macs = new(StringComparer.Ordinal);
    private readonly WebApplication _app;
    private readonly bool _certificateExpired;
    private long _received;
    private long _unregistered;
    private long _refused;

    private PushGateway(WebApplication app, bool certificateExpired)
    {
        _app = app;
        _certificateExpired = certificateExpired;
    }

    /// <summary>The address the gateway listens on, e.g. <c>http://127.0.0.1:2197</c>.</summary>
    public Uri Url => new(_app.Urls.Single());

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Pushes for a token no simulated Mac has.</summary>
    public long Unregistered => Interlocked.Read(ref _unregistered);

    /// <summary>Pushes refused: expired certificate, wrong topic, empty payload.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Starts listening on 127.0.0.1:<paramref name="port"/> (0: a port the system picks).</summary>
    public static async Task<PushGateway> StartAsync(int port, bool certificateExpired, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, port);
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
        });
        builder.Logging.ClearProviders();
        var gateway = new PushGateway(builder.Build(), certificateExpired);
        gateway._app.MapPost("/3/device/{token}", gateway.PushAsync);
        await gateway._app.StartAsync(cancellationToken);

        return gateway;
    }

    /// <summary>Lets pushes reach <paramref name="mac"/> under its token.</summary>
    public void Register(MacDevice mac) => _macs[mac.TokenHex] = mac;

    private async Task<IResult> PushAsync(string token, HttpRequest request)
    {
        Interlocked.Increment(ref _received);
        if (_certificateExpired)
        {
            return Refuse(HttpStatusCode.Forbidden, "ExpiredProviderToken");
        }

        if (!_macs.TryGetValue(token.ToLowerInvariant(), out var mac))
        {
            Interlocked.Increment(ref _unregistered);

            return Results.Json(new { reason = "Unregistered" }, statusCode: (int)HttpStatusCode.Gone);
        }

        if (!string.Equals(request.Headers["apns-topic"], mac.Topic, StringComparison.Ordinal))
        {
            return Refuse(HttpStatusCode.BadRequest, "DeviceTokenNotForTopic");
        }

        if (await ReadPushMagicAsync(request) is not { } pushMagic)
        {
            return Refuse(HttpStatusCode.BadRequest, "PayloadEmpty");
        }

        mac.Push(pushMagic);

        return Results.Ok();
    }

    private IResult Refuse(HttpStatusCode status, string reason)
    {
        Interlocked.Increment(ref _refused);

        return Results.Json(new { reason }, statusCode: (int)status);
    }

    private static async Task<string?> ReadPushMagicAsync(HttpRequest request)
    {
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);

            return body.RootElement.ValueKind == JsonValueKind.Object
                && body.RootElement.TryGetProperty("mdm", out var magic)
                && magic.ValueKind == JsonValueKind.String
                ? magic.GetString()
                : null;
        }
        catch (Exception exception) when (exception is JsonException or BadHttpRequestException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
