using System.Diagnostics;
using Fleet.Contracts;
using Fleet.Grains.Webhooks;

namespace Fleet.Tests.Webhooks;

/// <summary>
/// A silo whose webhook queue holds two events and which delivers one at a time, one attempt of 30 s each: a
/// grain call that waited for the hung receiver would take at least that long.
/// </summary>
public sealed class SmallQueueWebhookFixture : WebhookClusterFixture
{
    public const int Capacity = 2;

    protected override Dictionary<string, string?> Settings()
    {
        var settings = base.Settings();
        settings["Fleet:Webhooks:QueueCapacity"] = Capacity.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Fleet:Webhooks:Concurrency"] = "1";
        settings["Fleet:Webhooks:MaxAttempts"] = "1";
        settings["Fleet:Webhooks:Timeout"] = "00:00:30";

        return settings;
    }
}

/// <summary>A receiver that hangs fills the queue; further events are dropped and counted, and grains never wait.</summary>
public sealed class WebhookQueueFullTests(SmallQueueWebhookFixture fixture) : IClassFixture<SmallQueueWebhookFixture>
{
    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_windows = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "windows", ["version"] = "10.0.22631" },
    };

    private static readonly string[] s_required = ["os_version", "osquery_info", "system_info", "uptime"];

    private static DetailResults Answers(int osVersionStatus) => new(
        s_required.ToDictionary(n => n, IReadOnlyList<IReadOnlyDictionary<string, string>> (n) => [new Dictionary<string, string> { ["version"] = "1" }]),
        s_required.ToDictionary(n => n, n => n == "os_version" ? osVersionStatus : 0),
        new Dictionary<string, string>());

    [Fact]
    public async Task HangingReceiver_FullQueue_DropsAndCountsWithoutSlowingTheGrain()
    {
        const int cycles = 5;
        fixture.Receiver.Hang = true;
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var host = fixture.Grains.GetGrain<IHostGrain>(hostId);
        var nodeKey = (await host.EnrollAsync(new EnrollRequest(s_windows))).NodeKey;
        var secret = nodeKey[(nodeKey.IndexOf(':', StringComparison.Ordinal) + 1)..];
        var dropped = fixture.Metrics.Total(WebhookOutcome.Dropped);
        var slowest = TimeSpan.Zero;

        // Each cycle raises host.failed then host.recovered: ten events for a queue of two behind one hung delivery.
        for (var cycle = 0; cycle < cycles; cycle++)
        {
            foreach (var status in new[] { 1, 0 })
            {
                await host.RequestRefetchAsync();
                await host.ReadAsync(secret);
                var watch = Stopwatch.StartNew();
                await host.WriteAsync(secret, Answers(status));
                slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
            }
        }

        var received = await fixture.Receiver.WaitForAsync(hostId, 1, TimeSpan.FromSeconds(5));
        var waiting = fixture.Queue.Length;

        Assert.Equal(RefetchStatus.Verified, (await host.GetAsync())!.Refetch!.Status);
        // The bound leaves room for storage writes on a loaded machine; waiting for the receiver would take 30 s.
        Assert.True(slowest < TimeSpan.FromSeconds(5), $"host {hostId}: a write took {slowest.TotalMilliseconds:F0} ms while the receiver hung");
        Assert.Equal(SmallQueueWebhookFixture.Capacity, waiting);
        Assert.Single(received);
        Assert.Equal(dropped + (2 * cycles) - SmallQueueWebhookFixture.Capacity - 1, fixture.Metrics.Total(WebhookOutcome.Dropped));
    }
}
