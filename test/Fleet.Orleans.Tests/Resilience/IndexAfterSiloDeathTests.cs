using Azure.Data.Tables;
using Fleet.Contracts;
using Fleet.Grains.Index;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Orleans.Runtime.Placement;
using Orleans.TestingHost;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Resilience;

/// <summary>
/// A shard keeps entries in memory and saves them every few seconds, so when its silo dies the shard comes back
/// from rows that lack what it had not saved, and hosts that live on elsewhere would not publish again until they
/// next changed (the chaos suite's silo kill checks that API, storage and index agree afterwards). Once the death
/// is declared, every surviving host sends its entry again, and the shards hold and save the truth.
/// </summary>
public sealed class IndexAfterSiloDeathTests : IAsyncLifetime
{
    private const int HostCount = 24;

    private static readonly TimeSpan s_recoveryLimit = TimeSpan.FromSeconds(60);

    private OwnCluster _own = null!;

    private TestCluster Cluster => _own.Cluster;

    public async ValueTask InitializeAsync() => _own = await OwnCluster.StartAsync(silos: 2);

    public ValueTask DisposeAsync() => _own.DisposeAsync();

    [Fact]
    public async Task SiloWithTheShardsDies_ShardsComeBackFromStaleRows_SurvivingHostsSendTheTruthAgain()
    {
        var victim = Cluster.SecondarySilos[0];
        var survivor = Cluster.Silos.Single(silo => silo != victim).SiloAddress;
        var shards = await PlaceShardsAsync(victim.SiloAddress);
        var hosts = await EnrollHostsAsync(survivor, shards);
        var truth = await WaitForRowsAsync(hosts);

        // The rows now say something else: what a shard reloads when its last publishes were never saved.
        foreach (var shard in truth.GroupBy(entry => HostIndex.ShardOf(entry.HostId)))
        {
            await Store().SaveAsync(shard.Key, [.. shard.Select(Stale)], TestAborted);
        }

        await Cluster.KillSiloAsync(victim, TestAborted);

        foreach (var entry in truth)
        {
            await EventuallyAsync(
                () => HeldAsync(entry.HostId),
                held => held == entry,
                $"host {entry.HostId} back to its true entry in shard {HostIndex.ShardOf(entry.HostId)} after its silo died",
                s_recoveryLimit,
                held => held is null ? "no entry (shard unreachable or host missing)" : $"hostname {held.Hostname}, status {held.Status}");
        }

        foreach (var shard in truth.GroupBy(entry => HostIndex.ShardOf(entry.HostId)))
        {
            await EventuallyAsync(
                async () => (await Store().LoadAsync(shard.Key, TestAborted)).Where(e => shard.Contains(e)).Count(),
                saved => saved == shard.Count(),
                $"shard {shard.Key} saving the restored entries of its {shard.Count()} hosts");
        }
    }

    private static HostIndexEntry Stale(HostIndexEntry entry) =>
        entry with { Status = RefetchStatus.Failed, Hostname = "stale-row" };

    /// <summary>Activates every shard on <paramref name="silo"/>; returns those that landed there.</summary>
    private async Task<HashSet<int>> PlaceShardsAsync(SiloAddress silo)
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        try
        {
            await HostIndex.AskEveryShardAsync(Cluster.Client, shard => shard.CountAsync());
        }
        finally
        {
            RequestContext.Clear();
        }

        var placed = (await ActivationsOnAsync(silo))
            .Where(grain => grain.Type.ToString() == "hostindexshard")
            .Select(grain => (int)grain.GetIntegerKey())
            .ToHashSet();
        Assert.True(placed.Count > 0, $"no index shard was placed on {silo}; nothing for its death to lose");

        return placed;
    }

    /// <summary>Enrolls hosts on <paramref name="silo"/> whose shard is one of <paramref name="shards"/>.</summary>
    private async Task<List<string>> EnrollHostsAsync(SiloAddress silo, HashSet<int> shards)
    {
        var hosts = new List<string>();
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        try
        {
            while (hosts.Count < HostCount)
            {
                var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
                if (!shards.Contains(HostIndex.ShardOf(hostId)))
                {
                    continue;
                }

                var details = new Dictionary<string, IReadOnlyDictionary<string, string>>
                {
                    ["os_version"] = new Dictionary<string, string> { ["platform"] = "ubuntu", ["version"] = "24.04", ["name"] = "Ubuntu" },
                    ["system_info"] = new Dictionary<string, string> { ["hostname"] = $"survivor-{hosts.Count}" },
                };
                await Cluster.Client.GetGrain<IHostGrain>(hostId).EnrollAsync(new EnrollRequest(details));
                hosts.Add(hostId);
            }
        }
        finally
        {
            RequestContext.Clear();
        }

        var placed = (await ActivationsOnAsync(silo)).Select(grain => grain.Key.ToString()).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var elsewhere = hosts.Where(hostId => !placed.Contains(hostId)).ToList();
        Assert.True(elsewhere.Count == 0, $"hosts not placed on {silo}: {string.Join(", ", elsewhere)}");

        return hosts;
    }

    /// <summary>Waits until every host's entry is held and saved alike; returns the entries.</summary>
    private async Task<List<HostIndexEntry>> WaitForRowsAsync(List<string> hosts) =>
        await EventuallyAsync(
            async () =>
            {
                var entries = new List<HostIndexEntry>();
                foreach (var shard in hosts.GroupBy(HostIndex.ShardOf))
                {
                    var stored = await Store().LoadAsync(shard.Key, TestAborted);
                    foreach (var hostId in shard)
                    {
                        if (await HeldAsync(hostId) is { } held && stored.Contains(held))
                        {
                            entries.Add(held);
                        }
                    }
                }

                return entries;
            },
            entries => entries.Count == hosts.Count,
            $"{hosts.Count} hosts' entries held and saved by their shards",
            describe: entries => $"{entries.Count} of {hosts.Count}");

    private async Task<HostIndexEntry?> HeldAsync(string hostId)
    {
        try
        {
            var found = await Cluster.Client.GetGrain<IHostIndexShardGrain>(HostIndex.ShardOf(hostId)).FindAsync(hostId);

            return found.SingleOrDefault();
        }
        catch (Exception exception) when (exception is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException
            or ConnectionFailedException)
        {
            // The shard's silo was killed and its death not yet declared.
            return null;
        }
    }

    private async Task<List<GrainId>> ActivationsOnAsync(SiloAddress silo)
    {
        var statistics = await Cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(hostsIds: [silo]);

        return [.. statistics.Select(statistic => statistic.GrainId)];
    }

    private HostIndexStore Store() => new(
        new TableServiceClient(TestStorage.ConnectionString),
        Options.Create(new ClusterOptions { ServiceId = Cluster.Options.ServiceId }));
}
