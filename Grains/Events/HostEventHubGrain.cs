using Fleet.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Events;

/// <summary>
/// The fleet's event fan-out. It keeps the subscribed observers in memory only, each until its lease ends,
/// and forwards every published batch to each live one. Nothing is stored: after a crash or deactivation the
/// hub starts empty, and each Api is back at its next renewal, since a renewal is a subscription. Events
/// published in between reach nobody; they are live notifications, and the hosts' state stays the truth.
/// </summary>
/// <remarks>
/// Not [Reentrant], because nothing here waits: the observer call is one-way, so a turn sends the batch to
/// every observer and ends without waiting for any of them. A slow or gone observer costs its own messages,
/// never the hub's turn, and the subscriptions stay a plain dictionary touched by one turn at a time.
/// </remarks>
internal sealed partial class HostEventHubGrain(
    IOptions<HostEventOptions> options,
    TimeProvider time,
    ILogger<HostEventHubGrain> logger) : Grain, IHostEventHubGrain
{
    private readonly Dictionary<IHostEventObserver, DateTimeOffset> _leases = [];

    Task<TimeSpan> IHostEventHubGrain.SubscribeAsync(IHostEventObserver observer)
    {
        var lease = options.Value.SubscriptionLease;

        // Idle collection would forget every subscription; a subscribed observer keeps the hub for its lease.
        DelayDeactivation(lease);
        var renewal = _leases.ContainsKey(observer);
        _leases[observer] = time.GetUtcNow() + lease;
        if (!renewal)
        {
            LogSubscribed(observer.GetGrainId().ToString(), lease, _leases.Count);
        }

        return Task.FromResult(lease);
    }

    Task IHostEventHubGrain.UnsubscribeAsync(IHostEventObserver observer)
    {
        if (_leases.Remove(observer))
        {
            LogUnsubscribed(observer.GetGrainId().ToString(), _leases.Count);
        }

        return Task.CompletedTask;
    }

    Task IHostEventHubGrain.PublishAsync(IReadOnlyList<HostEvent> events)
    {
        var now = time.GetUtcNow();
        List<IHostEventObserver>? gone = null;
        foreach (var (observer, expiresAt) in _leases)
        {
            if (expiresAt <= now)
            {
                (gone ??= []).Add(observer);
                LogLeaseLapsed(observer.GetGrainId().ToString(), expiresAt);
                continue;
            }

            try
            {
                _ = observer.OnHostEventsAsync(events);
            }
            catch (Exception exception)
            {
                // A one-way call throws only when the message cannot even be sent; this observer is done.
                (gone ??= []).Add(observer);
                LogObserverFailed(observer.GetGrainId().ToString(), exception);
            }
        }

        foreach (var observer in gone ?? [])
        {
            _leases.Remove(observer);
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 610, Level = LogLevel.Information,
        Message = "Event observer {Observer} subscribed for {Lease}; {Count} subscribed")]
    private partial void LogSubscribed(string observer, TimeSpan lease, int count);

    [LoggerMessage(EventId = 611, Level = LogLevel.Information, Message = "Event observer {Observer} unsubscribed; {Count} subscribed")]
    private partial void LogUnsubscribed(string observer, int count);

    [LoggerMessage(EventId = 612, Level = LogLevel.Warning,
        Message = "Event observer {Observer} dropped: its lease ended at {ExpiredAt} without a renewal")]
    private partial void LogLeaseLapsed(string observer, DateTimeOffset expiredAt);

    [LoggerMessage(EventId = 613, Level = LogLevel.Warning, Message = "Event observer {Observer} dropped: it could not be called")]
    private partial void LogObserverFailed(string observer, Exception exception);
}
