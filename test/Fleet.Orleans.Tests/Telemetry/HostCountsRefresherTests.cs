using System.Diagnostics.Metrics;
using System.Reflection;
using Fleet.Api.Diagnostics;
using Fleet.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Telemetry;

/// <summary>
/// The Api's host-count refresher outlives failed reads. Found by the chaos suite: a grain call Orleans
/// cancelled under load (its activation waited too long) escaped the loop, and the host stopped the Api.
/// </summary>
public sealed class HostCountsRefresherTests
{
    [Fact]
    public async Task CancelledGrainCall_KeepsTheRefresherAndTheApiRunning_AndTheNextTickReadsAgain()
    {
        var time = new FakeTimeProvider();
        var shards = new ShardCalls();
        var grains = DispatchProxy.Create<IGrainFactory, GrainFactoryProxy>();
        ((GrainFactoryProxy)(object)grains).Shards = shards;
        var options = Options.Create(new ApiMetricsOptions { HostCountsRefreshPeriod = TimeSpan.FromSeconds(15) });
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new ApiMetrics(services.GetRequiredService<IMeterFactory>());
        using var refresher = new HostCountsRefresher(grains, metrics, options, time, NullLogger<HostCountsRefresher>.Instance);

        await refresher.StartAsync(TestContext.Current.CancellationToken);
        await shards.WaitForCallsAsync(HostIndex.ShardCount);
        time.Advance(TimeSpan.FromSeconds(15));
        await shards.WaitForCallsAsync(2 * HostIndex.ShardCount);
        var running = refresher.ExecuteTask is { IsCompleted: false };
        await refresher.StopAsync(TestContext.Current.CancellationToken);

        Assert.True(running, $"the refresher ended after a cancelled grain call: {refresher.ExecuteTask?.Status}");
    }

    /// <summary>Counts the shards' count calls, each of which fails cancelled, as Orleans fails a call whose activation timed out.</summary>
    internal sealed class ShardCalls
    {
        private int _calls;

        public void Called() => Interlocked.Increment(ref _calls);

        public async Task WaitForCallsAsync(int count)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (Volatile.Read(ref _calls) < count)
            {
                Assert.False(timeout.IsCancellationRequested, $"{count} shard calls not made within 10 s (made {_calls})");
                await Task.Delay(TimeSpan.FromMilliseconds(10), TestContext.Current.CancellationToken);
            }
        }
    }

    public class GrainFactoryProxy : DispatchProxy
    {
        internal ShardCalls? Shards { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            var shardType = targetMethod!.ReturnType;
            Assert.Equal(typeof(IHostIndexShardGrain), shardType);
            var shard = DispatchProxy.Create(shardType, typeof(ShardProxy));
            ((ShardProxy)shard).Shards = Shards;

            return shard;
        }
    }

    public class ShardProxy : DispatchProxy
    {
        internal ShardCalls? Shards { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            Assert.Equal(nameof(IHostIndexShardGrain.CountAsync), targetMethod!.Name);

            Shards!.Called();

            return Task.FromException<HostCounts>(new TaskCanceledException("activation cancelled"));
        }
    }
}
