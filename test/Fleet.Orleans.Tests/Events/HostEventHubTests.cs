using System.Threading.Channels;
using Fleet.Contracts;

namespace Fleet.Tests.Events;

/// <summary>The hub grain itself, driven by an observer in the test's cluster client.</summary>
public sealed class HostEventHubTests(EventsFixture fixture) : IClassFixture<EventsFixture>
{
    private static readonly DateTimeOffset s_at = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Hub_ForgetsAnObserverWhoseLeaseLapsed_UntilItSubscribesAgain()
    {
        var observer = new RecordingObserver();
        var reference = fixture.Grains.CreateObjectReference<IHostEventObserver>(observer);
        var hub = fixture.Grains.GetGrain<IHostEventHubGrain>(HostEventHub.Key);
        var lease = await hub.SubscribeAsync(reference);
        Assert.Equal(EventsFixture.Lease, lease);

        // The hub's clock is the silo's real one.
        await Task.Delay(lease + TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
        await hub.PublishAsync([Event("LAPSED-0001")]);
        await hub.SubscribeAsync(reference);
        await hub.PublishAsync([Event("RENEWED-0001")]);

        var received = await observer.Events.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal("RENEWED-0001", received.Host.HostId);
        await hub.UnsubscribeAsync(reference);
        fixture.Grains.DeleteObjectReference<IHostEventObserver>(reference);
    }

    private static HostEvent Event(string hostId) =>
        new(new HostIndexEntry(hostId, 1, RefetchStatus.Pending, "linux", null, null, null, null, s_at, null), [], HostAlert.None, s_at);

    private sealed class RecordingObserver : IHostEventObserver
    {
        private readonly Channel<HostEvent> _events = Channel.CreateUnbounded<HostEvent>();

        public ChannelReader<HostEvent> Events => _events.Reader;

        public Task OnHostEventsAsync(IReadOnlyList<HostEvent> events)
        {
            foreach (var hostEvent in events)
            {
                _events.Writer.TryWrite(hostEvent);
            }

            return Task.CompletedTask;
        }
    }
}
