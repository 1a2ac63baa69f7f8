using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;

namespace Fleet.Tests.Resilience;

/// <summary>
/// A fleet whose agents all went quiet is collected at once, and every host that checked in since its last write owes
/// one on its way out. With the silo letting only two write at a time, none of them is lost: each host's next activation
/// reads the last-seen time of its last check-in. Against Azurite.
/// </summary>
public sealed class MassDeactivationTests : IAsyncLifetime
{
    private const int Hosts = 40;

    private OwnCluster _own = null!;

    public async ValueTask InitializeAsync() =>
        _own = await OwnCluster.StartAsync(new Dictionary<string, string?> { ["Fleet:CheckIns:DeactivationFlushes"] = "2" });

    public ValueTask DisposeAsync() => _own.DisposeAsync();

    [Fact]
    public async Task HostsCollectedTogether_EachStoreTheLastSeenTimeOfTheirLastCheckIn()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var grains = _own.Cluster.Client;
        var enrolled = await Task.WhenAll(Enumerable.Range(0, Hosts).Select(_ => LeaseTestHosts.EnrollMacAsync(grains)));

        // Later than enrolment, which stored its own last-seen time: only the deactivation can store this one.
        await Task.Delay(20, cancellationToken);
        var seen = await Task.WhenAll(enrolled.Select(async h =>
        {
            Assert.True(await h.Host.LogAsync(h.Secret));
            return (await h.Host.GetAsync())!;
        }));

        var metrics = Assert.IsType<InProcessSiloHandle>(Assert.Single(_own.Cluster.Silos)).SiloHost.Services.GetRequiredService<FleetMetrics>();
        var before = metrics.LastSeenFlushTotals();
        await Task.Delay(50, cancellationToken);
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.FromMilliseconds(10), cancellationToken);
        var flushed = metrics.LastSeenFlushTotals().ToDictionary(t => t.Key, t => t.Value - before[t.Key]);
        var stored = await Task.WhenAll(enrolled.Select(h => h.Host.GetAsync()));

        var lost = seen.Zip(stored)
            .Where(pair => pair.Second is null || pair.Second.LastSeenAt != pair.First.LastSeenAt || pair.Second.Revision != pair.First.Revision + 1)
            .Select(pair => $"{pair.First.HostId}: checked in at {pair.First.LastSeenAt:O} (revision {pair.First.Revision}), " +
                $"read back {pair.Second?.LastSeenAt:O} (revision {pair.Second?.Revision})")
            .ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {Hosts} hosts lost their last check-in:\n{string.Join('\n', lost)}");

        // Through the silo's gate: every one stored, none failed or left without a turn.
        Assert.Equal(new Dictionary<string, long> { ["stored"] = Hosts, ["failed"] = 0, ["skipped"] = 0 }, flushed);
    }
}
