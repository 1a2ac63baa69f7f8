using System.Net;
using Azure.Data.Tables;
using Fleet.Contracts;
using Fleet.Grains;
using Fleet.Grains.Index;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Core.Internal;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Index;

/// <summary>
/// How the index recovers from lost updates: hosts re-publish on their next change and on activation, and
/// a repair rebuilds a shard from the hosts. A cluster of its own, since a repair touches every host of a
/// shard and the tests rewrite index rows behind the shard's back; each test uses a shard no other one does.
/// </summary>
public sealed class IndexRepairTests(IndexRepairTests.Fixture fixture) : IClassFixture<IndexRepairTests.Fixture>
{
    public sealed class Fixture() : ClusterFixture(new Dictionary<string, string?>());

    private IHostIndexShardGrain Shard(int shard) => fixture.Grains.GetGrain<IHostIndexShardGrain>(shard);

    private HostIndexStore Store() => new(
        new TableServiceClient(TestStorage.ConnectionString),
        Options.Create(new ClusterOptions { ServiceId = fixture.Cluster.Options.ServiceId }));

    [Fact]
    public async Task Repair_AfterRowsWereLostOrLeftStale_RestoresEveryHostAndDropsOnesThatDoNotExist()
    {
        const int shard = 3;
        var hosts = new[] { await EnrollAsync(shard, "kept"), await EnrollAsync(shard, "stale"), await EnrollAsync(shard, "lost") };
        var truth = await WaitForRowsAsync(shard, hosts);
        var stale = truth.Single(e => e.HostId == hosts[1]) with { Status = RefetchStatus.Failed, Hostname = "stale-row" };
        var ghost = truth[0] with { HostId = HostIn(shard), Hostname = "ghost" };
        await Store().SaveAsync(shard, [stale, ghost], TestAborted);
        await Store().DeleteAsync(shard, [hosts[2]], TestAborted);
        await Shard(shard).Cast<IGrainManagementExtension>().DeactivateOnIdle(TestAborted);
        var before = await EventuallyAsync(
            () => Shard(shard).QueryAsync(new HostQuery(null, null, null, 10)),
            page => page.Entries.Any(e => e.HostId == ghost.HostId),
            $"shard {shard} reloading the rewritten rows");
        Assert.DoesNotContain(before.Entries, e => e.HostId == hosts[2]);

        using var http = fixture.OperatorClient();
        using var response = await http.PostAsync($"/api/v1/index/shards/{shard}/repair", null, TestAborted);

        var report = await ExpectStatusAsync(response, HttpStatusCode.OK, $"repair of shard {shard}");
        var counts = (Int(report, "shard"), Int(report, "hosts"), Int(report, "added"), Int(report, "updated"), Int(report, "removed"));
        Assert.Equal((shard, 3, 1, 1, 1), counts);
        Assert.True(Int(report, "took_ms") >= 0, $"shard {shard}: took_ms {Show(report["took_ms"])}");
        var held = (await Shard(shard).QueryAsync(new HostQuery(null, null, null, 10))).Entries;
        Assert.Equal(truth.OrderBy(e => e.HostId, StringComparer.Ordinal), held);
        var stored = await Store().LoadAsync(shard, TestAborted);
        Assert.Equal(truth.OrderBy(e => e.HostId, StringComparer.Ordinal), stored.OrderBy(e => e.HostId, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Repair_OfAShardThatIsRight_ChangesNothing_EvenWhenTheHostCheckedInSince()
    {
        const int shard = 9;
        var hostId = HostIn(shard);
        var enrolled = await fixture.Grains.GetGrain<IHostGrain>(hostId).EnrollAsync(new EnrollRequest(
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "15.1" },
            }));
        var hosts = new[] { hostId };
        await WaitForRowsAsync(shard, hosts);

        // A check-in moves the host's live last_seen_at past the index's without a stored change.
        await Task.Delay(TimeSpan.FromMilliseconds(20), TestAborted);
        var secret = enrolled.NodeKey[(enrolled.NodeKey.IndexOf(':', StringComparison.Ordinal) + 1)..];
        Assert.True(await fixture.Grains.GetGrain<IHostGrain>(hostId).LogAsync(secret));
        var live = (await fixture.Grains.GetGrain<IHostGrain>(hostId).GetAsync())!;
        var held = (await Store().LoadAsync(shard, TestAborted)).Single(e => e.HostId == hostId);
        Assert.True(live.LastSeenAt > held.LastSeenAt, $"host {hostId}: live last seen {live.LastSeenAt:O}, index {held.LastSeenAt:O}");
        using var http = fixture.OperatorClient();

        using var response = await http.PostAsync($"/api/v1/index/shards/{shard}/repair", null, TestAborted);

        var report = await ExpectStatusAsync(response, HttpStatusCode.OK, $"repair of shard {shard}");
        var counts = (Int(report, "shard"), Int(report, "hosts"), Int(report, "added"), Int(report, "updated"), Int(report, "removed"));
        Assert.Equal((shard, 1, 0, 0, 0), counts);
    }

    [Fact]
    public async Task RepairAll_ReportsEveryShardInOrder()
    {
        using var http = fixture.OperatorClient();

        using var response = await http.PostAsync("/api/v1/index/repair", null, TestAborted);

        var body = await ExpectStatusAsync(response, HttpStatusCode.OK, "repair of every shard");
        var shards = body["shards"]!.AsArray();
        Assert.Equal(Enumerable.Range(0, HostIndex.ShardCount), shards.Select(s => Int(s, "shard") ?? -1));
        Assert.All(shards, s => Assert.True(Int(s, "removed") == 0, $"repair of a consistent index removed hosts: {Show(s)}"));
    }

    [Theory]
    [InlineData("16")]
    [InlineData("-1")]
    [InlineData("three")]
    [InlineData("99999999999")]
    public async Task Repair_OfAShardThatDoesNotExist_Returns400ProblemNamingShard(string shard)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.PostAsync($"/api/v1/index/shards/{shard}/repair", null, TestAborted);

        await ExpectInvalidParameterAsync(response, "shard", $"repair of shard '{shard}'");
    }

    [Theory]
    [InlineData("/api/v1/index/shards/0/repair")]
    [InlineData("/api/v1/index/repair")]
    public async Task Repair_AsObserver_Returns403(string path)
    {
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.PostAsync(path, null, TestAborted);

        await ExpectProblemAsync(response, HttpStatusCode.Forbidden, "Forbidden", $"observer POST {path}");
    }

    [Fact]
    public async Task Index_AfterALostUpdate_CatchesUpOnTheHostsNextTransition()
    {
        const int shard = 5;
        var hostId = await EnrollAsync(shard, "transition");
        var truth = (await WaitForRowsAsync(shard, [hostId]))[0];
        await LoseUpdateAsync(shard, truth);

        await fixture.Grains.GetGrain<IHostGrain>(hostId).RequestRefetchAsync();

        var caughtUp = await EntryAsync(shard, hostId, e => e.Status == RefetchStatus.Pending, "pending after its refetch request");
        Assert.Equal(
            truth with { Revision = caughtUp.Revision, Status = RefetchStatus.Pending, StatusChangedAt = caughtUp.StatusChangedAt, WakeAt = caughtUp.WakeAt },
            caughtUp);
        Assert.NotNull(caughtUp.WakeAt);
    }

    [Fact]
    public async Task Index_AfterALostUpdate_CatchesUpWhenTheHostActivates()
    {
        const int shard = 11;
        var hostId = await EnrollAsync(shard, "activation");
        var truth = (await WaitForRowsAsync(shard, [hostId]))[0];
        await LoseUpdateAsync(shard, truth);

        var host = fixture.Grains.GetGrain<IHostGrain>(hostId);
        await host.Cast<IGrainManagementExtension>().DeactivateOnIdle(TestAborted);
        await host.GetAsync();

        await EntryAsync(shard, hostId, e => e == truth, "back to its true entry after activation");
    }

    [Fact]
    public async Task Restore_TakesAnEntryTheShardHoldsBehind_AndNeverAnOlderViewOrALastSeenTime()
    {
        const int shard = 13;
        var hosts = new[] { await EnrollAsync(shard, "behind"), await EnrollAsync(shard, "transient"), await EnrollAsync(shard, "seen") };
        var truth = (await WaitForRowsAsync(shard, hosts)).ToDictionary(e => e.HostId);
        var (behind, transient, seen) = (truth[hosts[0]], truth[hosts[1]], truth[hosts[2]]);

        // The second host's transient status, published after the restore's entries were read: same revision, later change.
        var verifying = transient with { Status = RefetchStatus.Verifying, StatusChangedAt = transient.StatusChangedAt.AddSeconds(5) };
        await Shard(shard).PublishAsync(verifying);
        await EntryAsync(shard, transient.HostId, e => e == verifying, "holding the transient status");
        var ahead = behind with { Revision = behind.Revision + 1, Hostname = "renamed" };

        var restored = await Shard(shard).RestoreAsync([
            ahead,
            transient,
            transient with { Revision = transient.Revision - 1, Hostname = "older-revision" },
            seen with { LastSeenAt = seen.LastSeenAt?.AddMinutes(1) },
        ]);

        var held = (await Shard(shard).QueryAsync(new HostQuery(null, null, null, 10))).Entries;
        Assert.Equal(
            (1, ahead, verifying, seen),
            (restored, held.Single(e => e.HostId == behind.HostId), held.Single(e => e.HostId == transient.HostId), held.Single(e => e.HostId == seen.HostId)));
    }

    /// <summary>Leaves the shard holding a wrong entry for the host, as if the host's last publish had been lost.</summary>
    private async Task LoseUpdateAsync(int shard, HostIndexEntry truth)
    {
        await Shard(shard).PublishAsync(truth with { Status = RefetchStatus.Failed, Hostname = "lost-update" });
        await EntryAsync(shard, truth.HostId, e => e.Hostname == "lost-update", "holding the wrong entry");
    }

    private Task<HostIndexEntry> EntryAsync(int shard, string hostId, Func<HostIndexEntry, bool> done, string what) =>
        EventuallyAsync(
            async () => (await Shard(shard).FindAsync(hostId)).SingleOrDefault(),
            e => e is not null && done(e),
            $"host {hostId} in shard {shard} {what}")!;

    /// <summary>Waits until the shard's table rows hold exactly these hosts' entries as the shard does; returns them in order.</summary>
    private async Task<List<HostIndexEntry>> WaitForRowsAsync(int shard, string[] hostIds) =>
        await EventuallyAsync(
            async () =>
            {
                var held = (await Shard(shard).QueryAsync(new HostQuery(null, null, null, 100))).Entries
                    .Where(e => hostIds.Contains(e.HostId)).ToList();
                var stored = (await Store().LoadAsync(shard, TestAborted)).Where(e => hostIds.Contains(e.HostId)).OrderBy(e => e.HostId, StringComparer.Ordinal);

                return held.Count == hostIds.Length && held.SequenceEqual(stored) ? held : [];
            },
            held => held.Count == hostIds.Length,
            $"shard {shard} holding and having saved {string.Join(", ", hostIds)}");

    private async Task<string> EnrollAsync(int shard, string name)
    {
        var hostId = HostIn(shard);
        var details = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "15.1", ["name"] = "macOS" },
            ["system_info"] = new Dictionary<string, string> { ["hostname"] = name, ["hardware_serial"] = "SER-" + hostId[..8] },
        };
        await fixture.Grains.GetGrain<IHostGrain>(hostId).EnrollAsync(new EnrollRequest(details));

        return hostId;
    }

    /// <summary>A new host id that lands in <paramref name="shard"/>.</summary>
    private static string HostIn(int shard)
    {
        while (true)
        {
            var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
            if (HostIndex.ShardOf(hostId) == shard)
            {
                return hostId;
            }
        }
    }
}
