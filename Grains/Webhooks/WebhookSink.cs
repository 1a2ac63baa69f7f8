using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Events;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Webhooks;

/// <summary>
/// Takes the Failed and Recovered events of the hosts active on this silo, builds each one's JSON body at
/// once (the host may change before delivery) and queues it. Runs inside the host grain's turn: a full queue
/// drops the event and counts it, and nothing here waits or throws.
/// </summary>
internal sealed partial class WebhookSink(
    WebhookQueue queue, WebhookMetrics metrics, TimeProvider time, ILogger<WebhookSink> logger) : IHostEventSink
{
    // A receiver that is down for an hour would otherwise log one line per dropped event.
    private static readonly TimeSpan DropLogInterval = TimeSpan.FromSeconds(10);

    private readonly DropTally _drops = new(DropLogInterval, time);

    public void Publish(HostEvent hostEvent)
    {
        try
        {
            if (WebhookEvents.PayloadOf(hostEvent) is not { } payload)
            {
                return;
            }

            var webhookEvent = new WebhookEvent(
                payload.Id, payload.Type, payload.HostId, WebhookEvents.Serialize(payload), time.GetTimestamp());
            // Counted before it is queued, so that it is never seen finished before it was counted.
            metrics.Queued();
            if (!queue.TryEnqueue(webhookEvent))
            {
                metrics.Dropped();
                if (_drops.Count() is { } dropped)
                {
                    LogDropped(logger, webhookEvent.Type, webhookEvent.HostId, webhookEvent.Id, dropped, queue.Length);
                }
            }
        }
        catch (Exception exception)
        {
            // A bug here must not fail the host's call; the event is lost and said so.
            metrics.Count(WebhookOutcome.Dropped);
            LogBuildFailed(logger, hostEvent.Host.HostId, exception);
        }
    }

    [LoggerMessage(EventId = 1300, Level = LogLevel.Error,
        Message = "Webhook event {EventType} for host {HostId} ({EventId}) dropped: the queue is full ({QueueLength} waiting); {Dropped} dropped since the last such message")]
    private static partial void LogDropped(
        ILogger logger, string eventType, string hostId, string eventId, long dropped, int queueLength);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Error, Message = "Webhook event for host {HostId} could not be built and is dropped")]
    private static partial void LogBuildFailed(ILogger logger, string hostId, Exception exception);
}
