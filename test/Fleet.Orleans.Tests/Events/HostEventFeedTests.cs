using System.Diagnostics.Metrics;
using Fleet.Api.Events;
using Fleet.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Fleet.Tests.Events;

/// <summary>The Api's fan-out to its streams, without a cluster: filters, a slow stream's drops, open streams.</summary>
public sealed class HostEventFeedTests : IDisposable
{
    private static readonly DateTimeOffset s_at = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly EventStreamMetrics _metrics;
    private readonly HostEventFeed _feed;
    private readonly StoppingLifetime _lifetime = new();

    public HostEventFeedTests()
    {
        _metrics = new EventStreamMetrics(_services.GetRequiredService<IMeterFactory>());

        // No grain factory: these tests never start the subscription loop, only the fan-out.
        _feed = new HostEventFeed(
            null!, Options.Create(new EventStreamOptions { ClientBuffer = 2 }), TimeProvider.System, _metrics, _lifetime, NullLogger<HostEventFeed>.Instance);
    }

    [Fact]
    public async Task Feed_WhenAStreamFallsBehind_DropsItsOldestEventsAndNoOneElses()
    {
        using var slow = _feed.Subscribe(hostId: null);
        using var followingB = _feed.Subscribe("HOST-B");

        await Observer.OnHostEventsAsync([Event("HOST-A", 1), Event("HOST-B", 1), Event("HOST-A", 2), Event("HOST-C", 1)]);

        Assert.Equal(["HOST-A#2", "HOST-C#1"], Drain(slow));
        Assert.Equal(["HOST-B#1"], Drain(followingB));
        Assert.Equal(2, _metrics.DroppedTotal);
    }

    [Fact]
    public void Feed_CountsOpenStreamsUntilEachIsDisposed()
    {
        var first = _feed.Subscribe(hostId: null);
        var second = _feed.Subscribe("HOST-A");
        var open = _metrics.OpenNow;

        first.Dispose();
        first.Dispose();
        var afterFirst = _metrics.OpenNow;
        second.Dispose();

        Assert.Equal(2, open);
        Assert.Equal(1, afterFirst);
        Assert.Equal(0, _metrics.OpenNow);
        Assert.False(first.Events.TryRead(out _));
        Assert.True(first.Events.Completion.IsCompleted, "a disposed stream's queue is completed");
    }

    [Fact]
    public async Task Feed_WhenTheApiBeginsToStop_EndsEveryStreamAfterItsQueuedEvents()
    {
        using var open = _feed.Subscribe(hostId: null);
        await Observer.OnHostEventsAsync([Event("HOST-A", 1)]);

        _lifetime.Stop();
        using var late = _feed.Subscribe("HOST-A");

        Assert.Equal(["HOST-A#1"], Drain(open));
        Assert.True(open.Events.Completion.IsCompleted, "an open stream ends once its queued events are read");
        Assert.True(late.Events.Completion.IsCompleted, "a stream opened while stopping ends at once");
        Assert.False(await open.Events.WaitToReadAsync(TestContext.Current.CancellationToken));
    }

    public void Dispose()
    {
        _lifetime.Dispose();
        _feed.Dispose();
        _services.Dispose();
    }

    private IHostEventObserver Observer => _feed;

    private static List<string> Drain(HostEventSubscriber subscriber)
    {
        var seen = new List<string>();
        while (subscriber.Events.TryRead(out var hostEvent))
        {
            seen.Add($"{hostEvent.Host.HostId}#{hostEvent.Host.Revision}");
        }

        return seen;
    }

    private static HostEvent Event(string hostId, long revision) =>
        new(new HostIndexEntry(hostId, revision, RefetchStatus.Pending, "linux", null, null, null, null, s_at, null), [], HostAlert.None, s_at);

    private sealed class StoppingLifetime : IHostApplicationLifetime, IDisposable
    {
        private readonly CancellationTokenSource _stopping = new();

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => _stopping.Cancel();

        public void Stop() => StopApplication();

        public void Dispose() => _stopping.Dispose();
    }
}
