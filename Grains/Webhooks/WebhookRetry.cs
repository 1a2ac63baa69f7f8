using System.Net;

namespace Fleet.Grains.Webhooks;

/// <summary>What one delivery attempt's answer means.</summary>
public enum WebhookAnswer
{
    /// <summary>2xx: the receiver has the event.</summary>
    Delivered,

    /// <summary>408, 429, 5xx, a network error or no answer in time: worth another attempt.</summary>
    Transient,

    /// <summary>Any other status: the receiver refuses this event and would refuse it again.</summary>
    Refused,
}

/// <summary>The next step after an attempt: done, or wait <see cref="Delay"/> and try again.</summary>
public readonly record struct WebhookStep(WebhookOutcome Outcome, TimeSpan Delay);

/// <summary>Where an event's delivery ended, or that it goes on.</summary>
public enum WebhookOutcome
{
    Delivered,
    Retried,
    GaveUp,
    Dropped,
}

/// <summary>
/// The retry schedule, a pure function of the attempt, its answer and the settings. The wait before attempt
/// n+1 is <c>InitialBackoff * 2^(n-1)</c> capped at <c>MaxBackoff</c>, then spread over its upper half by
/// <c>jitter</c> (0 to 1) so that silos do not retry in step; a receiver's <c>Retry-After</c> replaces it,
/// still capped at <c>MaxBackoff</c>.
/// </summary>
public static class WebhookRetry
{
    public static WebhookAnswer Classify(HttpStatusCode? status) => status switch
    {
        null => WebhookAnswer.Transient,
        >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices => WebhookAnswer.Delivered,
        HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests => WebhookAnswer.Transient,
        >= HttpStatusCode.InternalServerError and <= (HttpStatusCode)599 => WebhookAnswer.Transient,
        _ => WebhookAnswer.Refused,
    };

    /// <param name="attempt">The attempt just made, starting at 1.</param>
    /// <param name="answer">What it got.</param>
    /// <param name="retryAfter">The receiver's <c>Retry-After</c>, if it sent one.</param>
    /// <param name="jitter">A number from 0 (inclusive) to 1 (exclusive).</param>
    /// <param name="options">The attempts and backoffs configured.</param>
    public static WebhookStep Next(
        int attempt, WebhookAnswer answer, TimeSpan? retryAfter, double jitter, WebhookOptions options)
    {
        if (answer == WebhookAnswer.Delivered)
        {
            return new WebhookStep(WebhookOutcome.Delivered, TimeSpan.Zero);
        }

        if (answer == WebhookAnswer.Refused || attempt >= options.MaxAttempts)
        {
            return new WebhookStep(WebhookOutcome.GaveUp, TimeSpan.Zero);
        }

        if (retryAfter is { } asked)
        {
            var honoured = asked < TimeSpan.Zero ? TimeSpan.Zero : asked > options.MaxBackoff ? options.MaxBackoff : asked;

            return new WebhookStep(WebhookOutcome.Retried, honoured);
        }

        return new WebhookStep(WebhookOutcome.Retried, Backoff(attempt, jitter, options));
    }

    /// <summary>The wait after failed attempt <paramref name="attempt"/>, between half and all of the capped doubling.</summary>
    public static TimeSpan Backoff(int attempt, double jitter, WebhookOptions options)
    {
        // In doubles: the doubling of a long backoff overflows TimeSpan well before MaxAttempts runs out.
        var ticks = Math.Min(options.InitialBackoff.Ticks * Math.Pow(2, attempt - 1), options.MaxBackoff.Ticks);
        var capped = TimeSpan.FromTicks((long)ticks);

        return capped / 2 + capped / 2 * Math.Clamp(jitter, 0, 1);
    }
}
