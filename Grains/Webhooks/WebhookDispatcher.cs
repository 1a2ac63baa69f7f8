using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Webhooks;

/// <summary>
/// Delivers the silo's queued webhook events: up to <see cref="WebhookOptions.Concurrency"/> at once, each
/// POSTed, signed, and retried on the schedule of <see cref="WebhookRetry"/>. Every attempt has its own
/// deadline and every event a last attempt, so a receiver that hangs or is down holds a delivery for a bounded
/// time while the queue, bounded too, drops what does not fit. Stopping the silo cancels the attempts and waits
/// in flight; what is still queued is lost (and logged).
/// </summary>
internal sealed partial class WebhookDispatcher(
    WebhookQueue queue,
    IHttpClientFactory httpClientFactory,
    IOptions<WebhookOptions> options,
    WebhookMetrics metrics,
    TimeProvider time,
    ILogger<WebhookDispatcher> logger) : BackgroundService
{
    /// <summary>The named <see cref="HttpClient"/> deliveries use.</summary>
    public const string HttpClientName = "Fleet.Webhooks";

    private readonly WebhookOptions _settings = options.Value;
    private readonly byte[] _secret = options.Value.SecretBytes();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var workers = Enumerable.Range(0, _settings.Concurrency).Select(_ => DeliverQueuedAsync(stoppingToken));
        await Task.WhenAll(workers);
        if (queue.Length > 0)
        {
            LogLostAtStop(logger, queue.Length);
        }
    }

    private async Task DeliverQueuedAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (queue.Reader.TryRead(out var webhookEvent))
                {
                    await DeliverAsync(webhookEvent, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the event in hand, if any, is lost with the rest of the queue.
        }
    }

    /// <summary>Attempts one event until it is delivered or given up. Throws only when the silo stops.</summary>
    private async Task DeliverAsync(WebhookEvent webhookEvent, CancellationToken stoppingToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (answer, status, retryAfter, failure) = await AttemptAsync(webhookEvent, stoppingToken);
            var step = WebhookRetry.Next(attempt, answer, retryAfter, Random.Shared.NextDouble(), _settings);
            var elapsed = time.GetElapsedTime(webhookEvent.QueuedAt);
            switch (step.Outcome)
            {
                case WebhookOutcome.Delivered:
                    metrics.Finished(WebhookOutcome.Delivered, elapsed);
                    LogDelivered(logger, webhookEvent.Type, webhookEvent.HostId, webhookEvent.Id, attempt, (int)status!);
                    return;
                case WebhookOutcome.GaveUp:
                    metrics.Finished(WebhookOutcome.GaveUp, elapsed);
                    LogGaveUp(logger, webhookEvent.Type, webhookEvent.HostId, webhookEvent.Id, attempt, Describe(status, failure));
                    return;
                default:
                    metrics.Count(WebhookOutcome.Retried);
                    LogAttemptFailed(
                        logger, webhookEvent.Type, webhookEvent.HostId, webhookEvent.Id, attempt, Describe(status, failure), step.Delay);
                    await Task.Delay(step.Delay, time, stoppingToken);
                    break;
            }
        }
    }

    private async Task<(WebhookAnswer Answer, HttpStatusCode? Status, TimeSpan? RetryAfter, string? Failure)> AttemptAsync(
        WebhookEvent webhookEvent, CancellationToken stoppingToken)
    {
        using var timeout = new CancellationTokenSource(_settings.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
        try
        {
            using var request = CreateRequest(webhookEvent);
            using var response = await httpClientFactory.CreateClient(HttpClientName)
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);

            return (WebhookRetry.Classify(response.StatusCode), response.StatusCode, RetryAfterOf(response.Headers), null);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
        {
            return (WebhookAnswer.Transient, null, null, "timeout");
        }
        catch (HttpRequestException exception)
        {
            // The error kind, never the message: it may quote the URL, and the URL may carry a token.
            return (WebhookAnswer.Transient, null, null, $"network error ({exception.HttpRequestError})");
        }
    }

    private HttpRequestMessage CreateRequest(WebhookEvent webhookEvent)
    {
        var content = new ReadOnlyMemoryContent(webhookEvent.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        var request = new HttpRequestMessage(HttpMethod.Post, _settings.Url) { Content = content };
        var signedAt = time.GetUtcNow().ToUnixTimeSeconds();
        request.Headers.TryAddWithoutValidation("Fleet-Event-Id", webhookEvent.Id);
        request.Headers.TryAddWithoutValidation("Fleet-Event-Type", webhookEvent.Type);
        request.Headers.TryAddWithoutValidation(WebhookSignature.HeaderName, WebhookSignature.Header(_secret, signedAt, webhookEvent.Body.Span));

        return request;
    }

    private TimeSpan? RetryAfterOf(HttpResponseHeaders headers) => headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - time.GetUtcNow(),
        _ => null,
    };

    private static string Describe(HttpStatusCode? status, string? failure) =>
        status is { } code ? $"HTTP {(int)code}" : failure ?? "no answer";

    [LoggerMessage(EventId = 1310, Level = LogLevel.Debug,
        Message = "Webhook event {EventType} for host {HostId} ({EventId}) delivered on attempt {Attempt}: HTTP {Status}")]
    private static partial void LogDelivered(ILogger logger, string eventType, string hostId, string eventId, int attempt, int status);

    [LoggerMessage(EventId = 1311, Level = LogLevel.Warning,
        Message = "Webhook event {EventType} for host {HostId} ({EventId}) attempt {Attempt} failed: {Failure}; retrying in {Delay}")]
    private static partial void LogAttemptFailed(
        ILogger logger, string eventType, string hostId, string eventId, int attempt, string failure, TimeSpan delay);

    [LoggerMessage(EventId = 1312, Level = LogLevel.Error,
        Message = "Webhook event {EventType} for host {HostId} ({EventId}) given up after attempt {Attempt}: {Failure}")]
    private static partial void LogGaveUp(ILogger logger, string eventType, string hostId, string eventId, int attempt, string failure);

    [LoggerMessage(EventId = 1313, Level = LogLevel.Error,
        Message = "Silo stopping with {Count} webhook events undelivered; they are lost (the queue is in memory)")]
    private static partial void LogLostAtStop(ILogger logger, int count);
}
