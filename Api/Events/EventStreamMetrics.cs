using System.Diagnostics.Metrics;

namespace Fleet.Api.Events;

/// <summary>The event streams' instruments (meter <c>Fleet.Orleans</c>), with running totals the tests read.</summary>
public sealed class EventStreamMetrics
{
    public const string MeterName = "Fleet.Orleans";

    private readonly UpDownCounter<long> _open;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _dropped;
    private long _openNow;
    private long _droppedTotal;

    public EventStreamMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _open = meter.CreateUpDownCounter<long>("fleet.events.sse.connections", "{connection}", "Event streams open now.");
        _sent = meter.CreateCounter<long>("fleet.events.sse.sent", "{event}", "Host events written to event streams.");
        _dropped = meter.CreateCounter<long>(
            "fleet.events.sse.dropped", "{event}", "Host events dropped because a stream's client read too slowly.");
    }

    public long OpenNow => Interlocked.Read(ref _openNow);

    public long DroppedTotal => Interlocked.Read(ref _droppedTotal);

    public void Opened()
    {
        Interlocked.Increment(ref _openNow);
        _open.Add(1);
    }

    public void Closed()
    {
        Interlocked.Decrement(ref _openNow);
        _open.Add(-1);
    }

    public void Sent() => _sent.Add(1);

    public void Dropped()
    {
        Interlocked.Increment(ref _droppedTotal);
        _dropped.Add(1);
    }
}
