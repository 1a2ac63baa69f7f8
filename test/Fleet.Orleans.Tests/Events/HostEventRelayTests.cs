using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Fleet.Contracts;
using Fleet.Grains.Events;
using Fleet.Tests.Mdm;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Events;

/// <summary>The silo's relay on its own: batches in arrival order, and a full queue that drops, counts and warns.</summary>
public sealed class HostEventRelayTests : IDisposable
{
    private static readonly DateTimeOffset s_start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_warningInterval = TimeSpan.FromMinutes(1);

    private readonly FakeTimeProvider _time = new(s_start);
    private readonly CapturedLogs _logs = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Channel<IReadOnlyList<HostEvent>> _sent = Channel.CreateUnbounded<IReadOnlyList<HostEvent>>();
    private readonly HostEventMetrics _metrics;

    public HostEventRelayTests() => _metrics = new HostEventMetrics(_services.GetRequiredService<IMeterFactory>());

    [Fact]
    public async Task Relay_WithMoreEventsQueuedThanOneBatch_SendsFullBatchesThenTheRestInOrder()
    {
        using var relay = Relay(capacity: 1000, maxBatch: 256);
        var events = Enumerable.Range(0, 600).Select(Event).ToList();
        events.ForEach(relay.Publish);

        await relay.StartAsync(TestContext.Current.CancellationToken);

        var batches = new List<IReadOnlyList<HostEvent>> { await NextBatchAsync(), await NextBatchAsync(), await NextBatchAsync() };
        Assert.Equal([256, 256, 88], batches.Select(b => b.Count));
        Assert.Equal(events.Select(e => e.Host.HostId), batches.SelectMany(b => b).Select(e => e.Host.HostId));
        Assert.Equal(600, _metrics.PublishedTotal);
        Assert.Equal(0, _metrics.DroppedTotal);
        await relay.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Relay_WhenQueueFull_DropsNewEventsCountsThemAndWarnsAtMostOncePerInterval()
    {
        using var relay = Relay(capacity: 3, maxBatch: 256);
        var events = Enumerable.Range(0, 6).Select(Event).ToList();

        events.Take(5).ToList().ForEach(relay.Publish);
        _time.Advance(s_warningInterval - TimeSpan.FromTicks(1));
        var warningsBeforeInterval = Warnings();
        _time.Advance(TimeSpan.FromTicks(1));
        relay.Publish(events[5]);

        Assert.Equal(3, _metrics.DroppedTotal);
        Assert.Equal(["Host event queue full (3 events): 1 events dropped"], warningsBeforeInterval.Select(Head));
        Assert.Equal(
            ["Host event queue full (3 events): 1 events dropped", "Host event queue full (3 events): 2 events dropped"],
            Warnings().Select(Head));
        await relay.StartAsync(TestContext.Current.CancellationToken);
        var batch = await NextBatchAsync();
        Assert.Equal(events.Take(3).Select(e => e.Host.HostId), batch.Select(e => e.Host.HostId));
        Assert.Equal(3, _metrics.PublishedTotal);
        await relay.StopAsync(TestContext.Current.CancellationToken);
    }

    public void Dispose() => _services.Dispose();

    private HostEventRelay Relay(int capacity, int maxBatch)
    {
        var options = Options.Create(new HostEventOptions
        {
            QueueCapacity = capacity,
            MaxBatchSize = maxBatch,
            BatchWindow = TimeSpan.Zero,
            DropWarningInterval = s_warningInterval,
        });
        var logger = new LoggerFactory([_logs]).CreateLogger<HostEventRelay>();

        return new HostEventRelay(batch => _sent.Writer.TryWrite(batch), options, _time, _metrics, logger);
    }

    private async Task<IReadOnlyList<HostEvent>> NextBatchAsync() =>
        await _sent.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

    private List<string> Warnings() =>
        [.. _logs.Lines.Where(l => l.Level == LogLevel.Warning && l.EventId == 600).Select(l => l.Message)];

    private static string Head(string message) => message[..message.IndexOf(';', StringComparison.Ordinal)];

    private static HostEvent Event(int n)
    {
        var entry = new HostIndexEntry($"HOST-{n:D6}", n, RefetchStatus.Pending, "linux", "22.04", null, null, null, s_start, null);

        return new HostEvent(entry, [], HostAlert.None, s_start);
    }
}
