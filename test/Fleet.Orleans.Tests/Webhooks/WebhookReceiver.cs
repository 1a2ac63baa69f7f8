using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Fleet.Tests.Webhooks;

/// <summary>One request as the receiver got it, with its own verdict on the signature.</summary>
public sealed record ReceivedWebhook(
    string? EventId, string? EventType, string? ContentType, bool SignatureValid, JsonElement Body, int Answered, DateTimeOffset At)
{
    public string? HostId => Body.GetProperty("host_id").GetString();
}

/// <summary>
/// A webhook receiver on 127.0.0.1 (a port the system picks) that checks each request's signature the way
/// the README tells receivers to, written here from that description rather than from the product's code.
/// It answers 200 unless the test scripted other answers for a host, or hangs while <see cref="Hang"/> is set.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public const string Secret = "test-webhook-secret-0123456789";

    /// <summary>How old a signature's time may be before the receiver refuses it as a replay.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    private readonly WebApplication _app;
    private readonly Dictionary<string, Queue<HttpStatusCode>> _scripts = [];
    private readonly List<ReceivedWebhook> _received = [];
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    private bool _hang;

    /// <summary>While set, requests are recorded but not answered until the receiver stops.</summary>
    public bool Hang
    {
        get => Volatile.Read(ref _hang);
        set => Volatile.Write(ref _hang, value);
    }

    /// <summary>A <c>Retry-After</c> value sent with every answer but 200, when set.</summary>
    public string? RetryAfter { get; set; }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var receiver = new WebhookReceiver(builder.Build());
        receiver._app.Run(receiver.HandleAsync);
        await receiver._app.StartAsync();
        receiver.Url = new Uri(receiver._app.Urls.Single() + "/hooks/fleet");

        return receiver;
    }

    /// <summary>The answers to the next requests about <paramref name="hostId"/>, in order; 200 after them.</summary>
    public void Script(string hostId, params HttpStatusCode[] answers)
    {
        lock (_scripts)
        {
            _scripts[hostId] = new Queue<HttpStatusCode>(answers);
        }
    }

    public IReadOnlyList<ReceivedWebhook> For(string hostId)
    {
        lock (_received)
        {
            return [.. _received.Where(r => r.HostId == hostId)];
        }
    }

    public int Count
    {
        get
        {
            lock (_received)
            {
                return _received.Count;
            }
        }
    }

    /// <summary>Waits until <paramref name="count"/> requests about the host arrived, and returns them.</summary>
    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForAsync(string hostId, int count, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        while (For(hostId) is var received && received.Count < count)
        {
            if (cancellation.IsCancellationRequested)
            {
                Assert.Fail($"host {hostId}: receiver got {received.Count} webhook requests within {timeout}, expected {count}");
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return For(hostId);
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();
        var headers = context.Request.Headers;
        var valid = Verifies(headers["Fleet-Signature"], body, DateTimeOffset.UtcNow);
        var json = JsonDocument.Parse(body).RootElement.Clone();
        var hostId = json.GetProperty("host_id").GetString() ?? string.Empty;
        var answer = Next(hostId);
        lock (_received)
        {
            _received.Add(new ReceivedWebhook(
                headers["Fleet-Event-Id"], headers["Fleet-Event-Type"], context.Request.ContentType, valid, json, (int)answer, DateTimeOffset.UtcNow));
        }

        if (Hang)
        {
            await _released.Task.WaitAsync(context.RequestAborted);
        }

        context.Response.StatusCode = (int)answer;
        if (RetryAfter is { } retryAfter && answer != HttpStatusCode.OK)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }
    }

    private HttpStatusCode Next(string hostId)
    {
        lock (_scripts)
        {
            return _scripts.TryGetValue(hostId, out var script) && script.Count > 0 ? script.Dequeue() : HttpStatusCode.OK;
        }
    }

    /// <summary>
    /// <c>t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</c>: recompute HMAC-SHA256(secret, "t." + body), compare in constant
    /// time, and refuse a t further than <see cref="Tolerance"/> from now.
    /// </summary>
    public static bool Verifies(string? header, byte[] body, DateTimeOffset now, string secret = Secret)
    {
        var parts = (header ?? string.Empty).Split(',')
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("t", out var t) || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || !parts.TryGetValue("v1", out var v1))
        {
            return false;
        }

        if ((now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > Tolerance)
        {
            return false;
        }

        byte[] signed = [.. Encoding.ASCII.GetBytes(t + "."), .. body];
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed);

        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(expected)), Encoding.ASCII.GetBytes(v1));
    }

    public async ValueTask DisposeAsync()
    {
        _released.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
