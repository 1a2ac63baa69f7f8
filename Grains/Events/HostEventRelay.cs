using System.Threading.Channels;
using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Events;

/// <summary>
/// The silo's event sink: host grains drop their events into a bounded queue inside their turn, and a loop
/// sends them to the event hub in batches (up to <see cref="HostEventOptions.MaxBatchSize"/>, or what
/// arrived within <see cref="HostEventOptions.BatchWindow"/>), one-way. A full queue drops the new event and
/// counts it; a crash loses what is queued. Events are live notifications: the host's state is the truth.
/// </summary>
internal sealed partial class HostEventRelay : BackgroundService, IHostEventSink
{
    private readonly Channel<HostEvent> _queue;
    private readonly Action<IReadOnlyList<HostEvent>> _send;
    private readonly HostEventOptions _options;
    private readonly TimeProvider _time;
    private readonly HostEventMetrics _metrics;
    private readonly ILogger<HostEventRelay> _logger;
    private readonly DropTally _drops;

    public HostEventRelay(
        IGrainFactory grains,
        IOptions<HostEventOptions> options,
        TimeProvider time,
        HostEventMetrics metrics,
        ILogger<HostEventRelay> logger)
        : this(batch => grains.GetGrain<IHostEventHubGrain>(HostEventHub.Key).PublishAsync(batch), options, time, metrics, logger)
    {
    }

    /// <summary>A relay that hands each batch to <paramref name="send"/>; the hub's is one-way and returns at once.</summary>
    internal HostEventRelay(
        Action<IReadOnlyList<HostEvent>> send,
        IOptions<HostEventOptions> options,
        TimeProvider time,
        HostEventMetrics metrics,
        ILogger<HostEventRelay> logger)
    {
        _send = send;
        _options = options.Value;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _drops = new DropTally(_options.DropWarningInterval, time);
        _queue = Channel.CreateBounded<HostEvent>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    public void Publish(HostEvent hostEvent)
    {
        // TryWrite never waits: with FullMode Wait it refuses the event when the queue is full.
        if (!_queue.Writer.TryWrite(hostEvent))
        {
            _metrics.Dropped();
            if (_drops.Count() is { } dropped)
            {
                LogDropped(dropped, _options.QueueCapacity, _options.DropWarningInterval);
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken))
            {
                var batch = new List<HostEvent>(_options.MaxBatchSize);
                Take(reader, batch);
                if (batch.Count < _options.MaxBatchSize && _options.BatchWindow > TimeSpan.Zero)
                {
                    await Task.Delay(_options.BatchWindow, _time, stoppingToken);
                    Take(reader, batch);
                }

                Send(batch);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            LogStopped(reader.Count);
        }
    }

    private void Take(ChannelReader<HostEvent> reader, List<HostEvent> batch)
    {
        while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var hostEvent))
        {
            batch.Add(hostEvent);
        }
    }

    private void Send(List<HostEvent> batch)
    {
        try
        {
            _send(batch);
            _metrics.Published(batch.Count);
            LogBatchSent(batch.Count);
        }
        catch (Exception exception)
        {
            // A one-way call fails only locally (the silo is stopping, or the message cannot be built);
            // the batch is lost like any undelivered live notification, and the loop carries on.
            LogBatchFailed(batch.Count, exception);
        }
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning,
        Message = "Host event queue full ({Capacity} events): {Dropped} events dropped; further drops are counted and reported at most every {Interval}")]
    private partial void LogDropped(long dropped, int capacity, TimeSpan interval);

    [LoggerMessage(EventId = 601, Level = LogLevel.Trace, Message = "Sent {Count} host events to the event hub")]
    private partial void LogBatchSent(int count);

    [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "Could not send {Count} host events to the event hub")]
    private partial void LogBatchFailed(int count, Exception exception);

    [LoggerMessage(EventId = 603, Level = LogLevel.Debug, Message = "Host event relay stopped with {Count} events unsent")]
    private partial void LogStopped(int count);
}
