using System.Diagnostics.Metrics;
using Fleet.Grains.Diagnostics;

namespace Fleet.Grains.Events;

/// <summary>The silo relay's instruments (meter <c>Fleet.Orleans</c>), with running totals the tests read.</summary>
public sealed class HostEventMetrics
{
    private readonly Counter<long> _published;
    private readonly Counter<long> _dropped;
    private long _publishedTotal;
    private long _droppedTotal;

    public HostEventMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(FleetMetrics.MeterName);
        _published = meter.CreateCounter<long>("fleet.events.published", "{event}", "Host events this silo sent to the event hub.");
        _dropped = meter.CreateCounter<long>("fleet.events.dropped", "{event}", "Host events this silo dropped because its relay queue was full.");
    }

    public long PublishedTotal => Interlocked.Read(ref _publishedTotal);

    public long DroppedTotal => Interlocked.Read(ref _droppedTotal);

    public void Published(int count)
    {
        Interlocked.Add(ref _publishedTotal, count);
        _published.Add(count);
    }

    public void Dropped()
    {
        Interlocked.Increment(ref _droppedTotal);
        _dropped.Add(1);
    }
}
