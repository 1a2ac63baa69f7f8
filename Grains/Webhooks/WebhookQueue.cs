using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Webhooks;

/// <summary>
/// The silo's bounded, in-memory queue of events waiting for delivery, between the sink (host grains write)
/// and the dispatcher (it reads). A full queue refuses the write at once; nothing ever waits for room.
/// </summary>
public sealed class WebhookQueue(IOptions<WebhookOptions> options)
{
    private readonly Channel<WebhookEvent> _channel = Channel.CreateBounded<WebhookEvent>(
        new BoundedChannelOptions(options.Value.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });

    public int Length => _channel.Reader.Count;

    /// <summary>False when the queue is full (or closed): the event is not queued.</summary>
    public bool TryEnqueue(WebhookEvent webhookEvent) => _channel.Writer.TryWrite(webhookEvent);

    public ChannelReader<WebhookEvent> Reader => _channel.Reader;
}
