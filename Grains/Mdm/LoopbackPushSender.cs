using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Fleet.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Mdm;

/// <summary>
/// Sends MDM wake-ups the way APNs takes them over HTTP: <c>POST {gateway}/3/device/{token}</c> with the
/// topic and push type in headers and <c>{"mdm":"&lt;push magic&gt;"}</c> as the body. The shipped gateway is
/// the agent simulator's loopback stand-in; the answers follow APNs, so a real APNs sender only needs to add
/// TLS client authentication. Delivery problems come back as a <see cref="PushResult"/>, never as an exception.
/// </summary>
internal sealed partial class LoopbackPushSender(
    IHttpClientFactory httpClientFactory,
    IOptionsMonitor<PushOptions> options,
    TimeProvider timeProvider,
    ILogger<LoopbackPushSender> logger) : IPushSender
{
    /// <summary>The named <see cref="HttpClient"/> this sender uses.</summary>
    public const string HttpClientName = "Fleet.Push";

    public async Task<PushResult> SendAsync(MdmPushTarget target, CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        if (settings.CertificateNotAfter is { } notAfter && timeProvider.GetUtcNow() >= notAfter)
        {
            var expired = string.Create(CultureInfo.InvariantCulture, $"push certificate expired at {notAfter:O}");

            return Fail(target, PushFailureKind.CertificateExpired, expired);
        }

        if (target.Token.Length == 0 || !target.Token.All(char.IsAsciiHexDigit))
        {
            return Fail(target, PushFailureKind.InvalidDeviceToken, "the device's push token is not hexadecimal");
        }

        using var timeout = new CancellationTokenSource(settings.Timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            using var request = CreateRequest(settings.GatewayUrl, target);
            using var response = await httpClientFactory.CreateClient(HttpClientName).SendAsync(request, linked.Token);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                LogSent(logger, Fingerprint(target.Token));

                return PushResult.Sent;
            }

            var reason = await ReadReasonAsync(response, linked.Token);

            return Fail(target, Classify(response.StatusCode, reason), Describe(response.StatusCode, reason));
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var seconds = settings.Timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

            return Fail(target, PushFailureKind.Unreachable, Unreachable(settings, $"no answer within {seconds} s"));
        }
        catch (HttpRequestException exception)
        {
            return Fail(target, PushFailureKind.Unreachable, Unreachable(settings, Cause(exception)));
        }
    }

    private static HttpRequestMessage CreateRequest(Uri gateway, MdmPushTarget target)
    {
        var uri = new Uri(gateway.AbsoluteUri.TrimEnd('/') + "/3/device/" + target.Token.ToLowerInvariant());
        var request = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Version = HttpVersion.Version11,
            Content = JsonContent.Create(new Dictionary<string, string> { ["mdm"] = target.PushMagic }),
        };
        request.Headers.TryAddWithoutValidation("apns-topic", target.Topic);
        request.Headers.TryAddWithoutValidation("apns-push-type", "mdm");

        return request;
    }

    // APNs explains a refusal in a JSON body {"reason": "..."}; anything else leaves the reason unknown.
    private static async Task<string?> ReadReasonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);

            return body.ValueKind == JsonValueKind.Object
                && body.TryGetProperty("reason", out var reason)
                && reason.ValueKind == JsonValueKind.String
                ? reason.GetString()
                : null;
        }
        catch (Exception exception) when (exception is JsonException or NotSupportedException)
        {
            return null;
        }
    }

    internal static PushFailureKind Classify(HttpStatusCode status, string? reason) => (status, reason) switch
    {
        (HttpStatusCode.BadRequest, "BadDeviceToken") => PushFailureKind.InvalidDeviceToken,
        (HttpStatusCode.Gone, _) => PushFailureKind.InvalidDeviceToken,
        (HttpStatusCode.Forbidden, "ExpiredProviderToken" or "CertificateExpired") => PushFailureKind.CertificateExpired,
        _ => PushFailureKind.Rejected,
    };

    private static string Describe(HttpStatusCode status, string? reason) => (status, reason) switch
    {
        (HttpStatusCode.BadRequest or HttpStatusCode.Gone, "BadDeviceToken" or "Unregistered")
            => $"push gateway no longer knows the device's token ({(int)status} {reason})",
        (HttpStatusCode.Forbidden, "ExpiredProviderToken" or "CertificateExpired")
            => $"push gateway refused the push certificate as expired ({(int)status} {reason})",
        _ => $"push gateway answered {(int)status} {reason ?? "with no reason"}",
    };

    private static string Unreachable(PushOptions settings, string cause) =>
        $"push gateway at {settings.GatewayUrl} unreachable: {cause}";

    // HttpClient's own message ("An error occurred while sending the request.") hides the socket error.
    private static string Cause(HttpRequestException exception) =>
        exception.InnerException is { } inner ? $"{exception.Message} {inner.Message}" : exception.Message;

    private PushResult Fail(MdmPushTarget target, PushFailureKind kind, string message)
    {
        LogFailed(logger, Fingerprint(target.Token), kind, message);

        return PushResult.Failed(kind, message);
    }

    // A push token lets anyone holding the push certificate wake the device: logs carry a fingerprint only.
    private static string Fingerprint(string token) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)))[..12];

    [LoggerMessage(EventId = 950, Level = LogLevel.Debug, Message = "Push to device token sha256:{TokenFingerprint} sent")]
    private static partial void LogSent(ILogger logger, string tokenFingerprint);

    [LoggerMessage(EventId = 951, Level = LogLevel.Warning, Message = "Push to device token sha256:{TokenFingerprint} failed ({Kind}): {Reason}")]
    private static partial void LogFailed(ILogger logger, string tokenFingerprint, PushFailureKind kind, string reason);
}
