using System.Diagnostics.Metrics;
using Fleet.Grains.Diagnostics;

namespace Fleet.Grains.Webhooks;

/// <summary>
/// Webhook instruments on meter <c>Fleet.Orleans</c>: events by outcome (delivered, retried: one per failed
/// attempt that is tried again, gave_up, dropped), the time from queueing to delivery or giving up, and the
/// queue's length. Running totals per outcome, and of events not finished yet, are kept for the tests.
/// </summary>
public sealed class WebhookMetrics
{
    private readonly Counter<long> _deliveries;
    private readonly Histogram<double> _latency;
    private readonly long[] _totals = new long[Enum.GetValues<WebhookOutcome>().Length];
    private long _unfinished;

    public WebhookMetrics(IMeterFactory meterFactory, WebhookQueue queue)
    {
        var meter = meterFactory.Create(FleetMetrics.MeterName);
        _deliveries = meter.CreateCounter<long>(
            "fleet.webhook.deliveries", "{event}", "Webhook events by outcome: delivered, retried (per retry), gave_up, dropped.");
        _latency = meter.CreateHistogram(
            "fleet.webhook.delivery.duration",
            "s",
            "Time from queueing a webhook event to its final outcome, retries included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        meter.CreateObservableGauge(
            "fleet.webhook.queue.length", () => queue.Length, "{event}", "Webhook events waiting on this silo.");
    }

    /// <summary>Seconds: a prompt delivery falls in the first buckets, a retried one in the later ones.</summary>
    public static readonly double[] DurationBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

    /// <summary>Events queued whose delivery has not ended yet, waiting or in flight.</summary>
    public long Unfinished => Interlocked.Read(ref _unfinished);

    public void Queued() => Interlocked.Increment(ref _unfinished);

    /// <summary>Ends an event's delivery: counts its outcome and records how long it took from queueing.</summary>
    public void Finished(WebhookOutcome outcome, TimeSpan elapsed)
    {
        Count(outcome);
        _latency.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", Name(outcome)));
        Interlocked.Decrement(ref _unfinished);
    }

    /// <summary>Ends a queued event that did not fit in the queue.</summary>
    public void Dropped()
    {
        Count(WebhookOutcome.Dropped);
        Interlocked.Decrement(ref _unfinished);
    }

    public void Count(WebhookOutcome outcome)
    {
        Interlocked.Increment(ref _totals[(int)outcome]);
        _deliveries.Add(1, new KeyValuePair<string, object?>("outcome", Name(outcome)));
    }

    public long Total(WebhookOutcome outcome) => Interlocked.Read(ref _totals[(int)outcome]);

    public static string Name(WebhookOutcome outcome) => outcome switch
    {
        WebhookOutcome.Delivered => "delivered",
        WebhookOutcome.Retried => "retried",
        WebhookOutcome.GaveUp => "gave_up",
        _ => "dropped",
    };
}
