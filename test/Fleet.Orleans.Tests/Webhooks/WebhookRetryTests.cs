using System.Net;
using Fleet.Grains.Webhooks;

namespace Fleet.Tests.Webhooks;

/// <summary>The retry schedule as a pure function: which answers are retried, and how long each wait is.</summary>
public sealed class WebhookRetryTests
{
    private static readonly WebhookOptions s_options = new()
    {
        MaxAttempts = 5,
        InitialBackoff = TimeSpan.FromSeconds(1),
        MaxBackoff = TimeSpan.FromSeconds(6),
    };

    [Theory]
    [InlineData(200, WebhookAnswer.Delivered)]
    [InlineData(202, WebhookAnswer.Delivered)]
    [InlineData(204, WebhookAnswer.Delivered)]
    [InlineData(408, WebhookAnswer.Transient)]
    [InlineData(429, WebhookAnswer.Transient)]
    [InlineData(500, WebhookAnswer.Transient)]
    [InlineData(503, WebhookAnswer.Transient)]
    [InlineData(599, WebhookAnswer.Transient)]
    [InlineData(301, WebhookAnswer.Refused)]
    [InlineData(400, WebhookAnswer.Refused)]
    [InlineData(401, WebhookAnswer.Refused)]
    [InlineData(404, WebhookAnswer.Refused)]
    [InlineData(410, WebhookAnswer.Refused)]
    public void Classify_Status_IsDeliveredTransientOrRefused(int status, WebhookAnswer expected) =>
        Assert.Equal(expected, WebhookRetry.Classify((HttpStatusCode)status));

    [Fact]
    public void Classify_NoAnswer_IsTransient() => Assert.Equal(WebhookAnswer.Transient, WebhookRetry.Classify(null));

    [Theory]
    [InlineData(1, 0.0, 500)]
    [InlineData(1, 0.5, 750)]
    [InlineData(2, 0.0, 1000)]
    [InlineData(3, 0.0, 2000)]
    [InlineData(3, 0.999, 3998)]
    [InlineData(4, 0.0, 3000)]
    [InlineData(4, 1.0, 6000)]
    [InlineData(40, 0.0, 3000)]
    public void Backoff_DoublesFromInitialUpToMax_SpreadOverItsUpperHalf(int attempt, double jitter, int expectedMilliseconds) =>
        Assert.Equal(expectedMilliseconds, (int)WebhookRetry.Backoff(attempt, jitter, s_options).TotalMilliseconds);

    [Fact]
    public void Backoff_OfALongInitialBackoffAtTheLastAttempt_IsTheMaxWithoutOverflow()
    {
        var options = new WebhookOptions { InitialBackoff = TimeSpan.FromDays(1), MaxBackoff = TimeSpan.FromDays(2), MaxAttempts = 100 };

        Assert.Equal(TimeSpan.FromDays(2), WebhookRetry.Backoff(99, 1.0, options));
    }

    [Fact]
    public void Next_AfterTransientAnswers_RetriesUntilTheLastAttemptThenGivesUp()
    {
        var steps = Enumerable.Range(1, 5).Select(a => WebhookRetry.Next(a, WebhookAnswer.Transient, null, 0.0, s_options)).ToArray();

        Assert.Equal(
            [
                new WebhookStep(WebhookOutcome.Retried, TimeSpan.FromMilliseconds(500)),
                new WebhookStep(WebhookOutcome.Retried, TimeSpan.FromSeconds(1)),
                new WebhookStep(WebhookOutcome.Retried, TimeSpan.FromSeconds(2)),
                new WebhookStep(WebhookOutcome.Retried, TimeSpan.FromSeconds(3)),
                new WebhookStep(WebhookOutcome.GaveUp, TimeSpan.Zero),
            ],
            steps);
    }

    [Fact]
    public void Next_Delivered_EndsAtAnyAttempt() =>
        Assert.Equal(new WebhookStep(WebhookOutcome.Delivered, TimeSpan.Zero), WebhookRetry.Next(5, WebhookAnswer.Delivered, null, 0.3, s_options));

    [Fact]
    public void Next_Refused_GivesUpAtTheFirstAttempt() =>
        Assert.Equal(new WebhookStep(WebhookOutcome.GaveUp, TimeSpan.Zero), WebhookRetry.Next(1, WebhookAnswer.Refused, null, 0.3, s_options));

    [Theory]
    [InlineData(4, 4000)]
    [InlineData(0, 0)]
    [InlineData(-3, 0)]
    [InlineData(600, 6000)]
    public void Next_WithRetryAfter_WaitsThatLongCappedAtMaxBackoff(int retryAfterSeconds, int expectedMilliseconds)
    {
        var step = WebhookRetry.Next(1, WebhookAnswer.Transient, TimeSpan.FromSeconds(retryAfterSeconds), 0.9, s_options);

        Assert.Equal(new WebhookStep(WebhookOutcome.Retried, TimeSpan.FromMilliseconds(expectedMilliseconds)), step);
    }
}
