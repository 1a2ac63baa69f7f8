using System.Diagnostics.Metrics;
using Fleet.Contracts;
using Fleet.Silo.Diagnostics;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Diagnostics;

/// <summary>
/// The silo's activation counts behind <c>/debug/memory</c>, read from Orleans' instrument rather than through the
/// management grain, whose statistics timed out (HTTP 500) while thousands of idle hosts were being deactivated.
/// </summary>
public sealed class ActivationCounterTests(ClusterFixture fixture)
{
    [Fact]
    public void Snapshot_SumsTheGaugePerGrainTypeAndLeavesOutEmptyTypes()
    {
        using var meter = new Meter("Fleet.Tests.ActivationCounter." + Guid.NewGuid().ToString("N"));
        using var counter = new ActivationCounter(meter.Name);
        var hosts = 3;
        meter.CreateObservableGauge(ActivationCounter.ActivationsInstrument, () => new[]
        {
            new Measurement<int>(hosts, new KeyValuePair<string, object?>(ActivationCounter.GrainTypeTag, "host")),
            new Measurement<int>(2, new KeyValuePair<string, object?>(ActivationCounter.GrainTypeTag, "host")),
            new Measurement<int>(0, new KeyValuePair<string, object?>(ActivationCounter.GrainTypeTag, "team")),
            new Measurement<int>(7),
        });
        meter.CreateObservableGauge("some-other-instrument", () => new Measurement<int>(9, new KeyValuePair<string, object?>(ActivationCounter.GrainTypeTag, "host")));

        var first = counter.Snapshot();
        hosts = 1;
        var second = counter.Snapshot();

        Assert.Equal(new Dictionary<string, long> { ["host"] = 5 }, first);
        Assert.Equal(new Dictionary<string, long> { ["host"] = 3 }, second);
    }

    [Fact]
    public async Task Snapshot_OnOrleansMeter_SeesHostGrainActivations()
    {
        // Created after the test cluster started: the gauge is read when asked, so nothing before it is missed.
        using var counter = new ActivationCounter();
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();

        await fixture.Grains.GetGrain<IHostGrain>(hostId).GetAsync();

        // Other tests activate hosts in parallel, so only a lower bound is exact here.
        var hosts = counter.Snapshot().GetValueOrDefault("host");
        Assert.True(hosts >= 1, $"activated host {hostId} but the counter saw {hosts} host activations");
    }
}
