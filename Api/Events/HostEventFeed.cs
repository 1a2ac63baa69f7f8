using System.Threading.Channels;
using Fleet.Contracts;
using Microsoft.Extensions.Options;

namespace Fleet.Api.Events;

/// <summary>
/// The Api's one subscription to the event hub, shared by every event stream. It subscribes an observer,
/// renews it at a third of the lease the hub grants, and after a failure subscribes again with a doubling
/// backoff, so a cluster that is unreachable for less than two thirds of a lease loses nothing, and a longer
/// outage (or a hub that restarted empty) heals at the next successful call. Each stream reads its own
/// bounded queue, so a slow client loses its own oldest events and never holds up the others. When the
/// Api begins to stop, every stream ends after the events already queued for it, so open streams do not
/// hold the shutdown until the server's drain timeout.
/// </summary>
internal sealed partial class HostEventFeed(
    IGrainFactory grains,
    IOptions<EventStreamOptions> options,
    TimeProvider time,
    EventStreamMetrics metrics,
    IHostApplicationLifetime lifetime,
    ILogger<HostEventFeed> logger) : BackgroundService, IHostEventObserver
{
    private readonly TaskCompletionSource _live = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _subscribersLock = new();
    private HostEventSubscriber[] _subscribers = [];
    private long _subscriptions;
    private bool _ended;
    private int _stoppingHooked;

    /// <summary>Completes once the hub has accepted the first subscription.</summary>
    public Task Live => _live.Task;

    /// <summary>Successful subscriptions and renewals so far.</summary>
    public long Subscriptions => Interlocked.Read(ref _subscriptions);

    /// <summary>A queue of the events for one host, or for every host when <paramref name="hostId"/> is null.</summary>
    public HostEventSubscriber Subscribe(string? hostId)
    {
        // Hooked by the first stream (a callback registered after stopping began runs at once).
        if (Interlocked.Exchange(ref _stoppingHooked, 1) == 0)
        {
            lifetime.ApplicationStopping.Register(EndStreams);
        }

        var subscriber = new HostEventSubscriber(this, hostId, options.Value.ClientBuffer, metrics);
        bool ended;
        lock (_subscribersLock)
        {
            _subscribers = [.. _subscribers, subscriber];
            ended = _ended;
        }

        metrics.Opened();
        if (ended)
        {
            subscriber.End();
        }

        return subscriber;
    }

    public void Unsubscribe(HostEventSubscriber subscriber)
    {
        lock (_subscribersLock)
        {
            _subscribers = [.. _subscribers.Where(s => s != subscriber)];
        }

        metrics.Closed();
    }

    Task IHostEventObserver.OnHostEventsAsync(IReadOnlyList<HostEvent> events)
    {
        var subscribers = Volatile.Read(ref _subscribers);
        foreach (var hostEvent in events)
        {
            foreach (var subscriber in subscribers)
            {
                subscriber.Offer(hostEvent);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Ends every open stream, and every stream opened from now on, once its queued events are read.</summary>
    private void EndStreams()
    {
        HostEventSubscriber[] subscribers;
        lock (_subscribersLock)
        {
            _ended = true;
            subscribers = _subscribers;
        }

        foreach (var subscriber in subscribers)
        {
            subscriber.End();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var observer = grains.CreateObjectReference<IHostEventObserver>(this);
        var hub = grains.GetGrain<IHostEventHubGrain>(HostEventHub.Key);
        var backoff = options.Value.ResubscribeBackoff;
        var failures = 0;
        try
        {
            while (true)
            {
                TimeSpan wait;
                try
                {
                    var lease = await hub.SubscribeAsync(observer).WaitAsync(stoppingToken);
                    Interlocked.Increment(ref _subscriptions);
                    if (_live.TrySetResult() || failures > 0)
                    {
                        LogSubscribed(lease, failures);
                    }

                    failures = 0;
                    backoff = options.Value.ResubscribeBackoff;
                    wait = lease / 3;
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogSubscribeFailed(++failures, backoff, exception);
                    wait = backoff;
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.Value.MaxResubscribeBackoff.Ticks));
                }

                await Task.Delay(wait, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            await UnsubscribeAsync(hub, observer);
        }
    }

    // The hub would forget this observer at the end of its lease anyway; telling it stops the traffic sooner.
    private async Task UnsubscribeAsync(IHostEventHubGrain hub, IHostEventObserver observer)
    {
        try
        {
            await hub.UnsubscribeAsync(observer).WaitAsync(TimeSpan.FromSeconds(2), time);
        }
        catch (Exception exception)
        {
            LogUnsubscribeFailed(exception.GetType().Name);
        }

        grains.DeleteObjectReference<IHostEventObserver>(observer);
    }

    [LoggerMessage(EventId = 620, Level = LogLevel.Information,
        Message = "Subscribed to host events for {Lease} (after {Failures} failed attempts)")]
    private partial void LogSubscribed(TimeSpan lease, int failures);

    [LoggerMessage(EventId = 621, Level = LogLevel.Warning,
        Message = "Could not subscribe to host events (attempt {Attempt}); trying again in {Backoff}")]
    private partial void LogSubscribeFailed(int attempt, TimeSpan backoff, Exception exception);

    [LoggerMessage(EventId = 622, Level = LogLevel.Debug, Message = "Could not unsubscribe from host events at shutdown ({Kind})")]
    private partial void LogUnsubscribeFailed(string kind);
}

/// <summary>
/// One event stream's queue: the newest <c>ClientBuffer</c> events of its host (or of every host). A client
/// that reads too slowly loses the oldest, counted; the observer never waits for it.
/// </summary>
internal sealed class HostEventSubscriber : IDisposable
{
    private readonly HostEventFeed _feed;
    private readonly Channel<HostEvent> _queue;
    private int _disposed;

    public HostEventSubscriber(HostEventFeed feed, string? hostId, int capacity, EventStreamMetrics metrics)
    {
        _feed = feed;
        HostId = hostId;
        _queue = Channel.CreateBounded<HostEvent>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => metrics.Dropped());
    }

    /// <summary>The host this stream follows; null for every host.</summary>
    public string? HostId { get; }

    public ChannelReader<HostEvent> Events => _queue.Reader;

    public void Offer(HostEvent hostEvent)
    {
        if (HostId is null || string.Equals(HostId, hostEvent.Host.HostId, StringComparison.Ordinal))
        {
            _queue.Writer.TryWrite(hostEvent);
        }
    }

    /// <summary>No more events: the stream ends once it has read those already queued.</summary>
    public void End() => _queue.Writer.TryComplete();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _queue.Writer.TryComplete();
            _feed.Unsubscribe(this);
        }
    }
}
