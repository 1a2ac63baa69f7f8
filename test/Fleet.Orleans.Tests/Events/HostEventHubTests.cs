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
        var lapsing = new RecordingObserver();
        var fresh = new RecordingObserver();
        var lapsingRef = fixture.Grains.CreateObjectReference<IHostEventObserver>(lapsing);
        var freshRef = fixture.Grains.CreateObjectReference<IHostEventObserver>(fresh);
        var hub = fixture.Grains.GetGrain<IHostEventHubGrain>(HostEventHub.Key);
        var lease = await hub.SubscribeAsync(lapsingRef);

        // The hub's clock is the silo's real one. The fresh observer shows when each publish went out: its
        // copy leaves in the same turn, and the second publish in a later one, over the same connection.
        await Task.Delay(lease + TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
        await hub.SubscribeAsync(freshRef);
        await hub.PublishAsync([Event("LAPSED-0001")]);
        await hub.PublishAsync([Event("LAPSED-0002")]);
        var freshSaw = new[] { await fresh.NextAsync(), await fresh.NextAsync() };
        var lapsedSaw = lapsing.Received();
        await hub.SubscribeAsync(lapsingRef);
        await hub.PublishAsync([Event("RENEWED-0001")]);
        var renewedSaw = await lapsing.NextAsync();

        Assert.Equal(EventsFixture.Lease, lease);
        Assert.Equal(["LAPSED-0001", "LAPSED-0002"], freshSaw.Select(e => e.Host.HostId));
        Assert.Empty(lapsedSaw);
        Assert.Equal("RENEWED-0001", renewedSaw.Host.HostId);
        await hub.UnsubscribeAsync(lapsingRef);
        await hub.UnsubscribeAsync(freshRef);
        fixture.Grains.DeleteObjectReference<IHostEventObserver>(lapsingRef);
        fixture.Grains.DeleteObjectReference<IHostEventObserver>(freshRef);
    }

    private static HostEvent Event(string hostId) =>
        new(new HostIndexEntry(hostId, 1, RefetchStatus.Pending, "linux", null, null, null, null, s_at, null), [], HostAlert.None, s_at);

    private sealed class RecordingObserver : IHostEventObserver
    {
        private readonly Channel<HostEvent> _events = Channel.CreateUnbounded<HostEvent>();

        public async Task<HostEvent> NextAsync() =>
            await _events.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask()
                .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        public List<HostEvent> Received()
        {
            var received = new List<HostEvent>();
            while (_events.Reader.TryRead(out var hostEvent))
            {
                received.Add(hostEvent);
            }

            return received;
        }

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
