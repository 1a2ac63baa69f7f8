using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;

namespace Fleet.Tests.Hosts;

/// <summary>
/// A silo killed without warning while refetches are in flight, then replaced. State and reminders live in
/// Azurite, so every host must still end Verified (its agent answers after the restart) or Failed at its
/// deadline, woken by its reminder even though nobody calls it.
/// </summary>
public sealed class SiloRestartTests : IAsyncLifetime
{
    private static readonly TimeSpan s_reminderPeriod = TimeSpan.FromSeconds(2);

    // Silo start-up, membership declaring the dead silo dead, and the reminder table read: measured 4-8 s here.
    private static readonly TimeSpan s_recoverySlack = TimeSpan.FromSeconds(10);

    private readonly TestCluster _cluster = FleetTestCluster.Create(new Dictionary<string, string?>
    {
        ["Fleet:Refetch:ReminderPeriod"] = "00:00:02",
        ["Fleet:Refetch:Policies:linux:PickupTimeout"] = "00:00:03",
        ["Fleet:Refetch:Policies:linux:MaxAttempts"] = "1",
    });

    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_ubuntu = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "ubuntu", ["version"] = "22.04.1 LTS" },
    };

    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_mac15 = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "15.1" },
    };

    private static readonly string[] s_required = ["os_version", "osquery_info", "system_info", "uptime"];

    public async ValueTask InitializeAsync() => await _cluster.DeployAsync();

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task KilledSilo_WithHostsInFlight_EveryHostReachesATerminalStateAfterRestart()
    {
        var count = TestProfile.IsCi ? 3 : 10;
        var silent = await EnrollAsync(s_ubuntu, count);
        var answering = await EnrollAsync(s_mac15, count);
        var midway = await EnrollAsync(s_mac15, count);
        var deadlines = new Dictionary<string, DateTimeOffset>();
        foreach (var (id, _) in silent.Concat(answering).Concat(midway))
        {
            var refetch = (await Host(id).RequestRefetchAsync()).Refetch!;
            deadlines[id] = refetch.Deadline!.Value;
        }

        foreach (var (id, secret) in midway)
        {
            Assert.NotEmpty((await Host(id).ReadAsync(secret)).Queries);
        }

        await _cluster.KillSiloAsync(_cluster.Silos[0], TestContext.Current.CancellationToken);
        // Stay down past the pickup deadline, so only a reminder on the new silo can notice it.
        await Task.Delay(TimeSpan.FromSeconds(4), TestContext.Current.CancellationToken);
        await _cluster.StartAdditionalSiloAsync();
        var restartedAt = DateTimeOffset.UtcNow;
        await _cluster.KillClientAsync();
        await _cluster.InitializeClientAsync(TestContext.Current.CancellationToken);

        // Silent hosts are never called: only their reminders can finish them. Watch them through the index.
        var failed = await WaitForIndexAsync(silent.Select(h => h.Id), RefetchStatus.Failed, TimeSpan.FromSeconds(40));
        foreach (var (id, _) in answering.Concat(midway))
        {
            var view = await Host(id).GetAsync();
            Assert.True(view!.Refetch!.Status is RefetchStatus.Pending,
                $"host {id}: expected pending after restart, was {view.Refetch.Status}");
        }

        foreach (var (id, secret) in answering)
        {
            Assert.NotEmpty((await Host(id).ReadAsync(secret)).Queries);
            Assert.True(await Host(id).WriteAsync(secret, Answers()));
        }

        // Their hand-out was never written (Verifying is transient), so like osquery they write what they
        // had, then read again on their next interval and answer that.
        foreach (var (id, secret) in midway)
        {
            Assert.True(await Host(id).WriteAsync(secret, Answers()));
            Assert.NotEmpty((await Host(id).ReadAsync(secret)).Queries);
            Assert.True(await Host(id).WriteAsync(secret, Answers()));
        }

        foreach (var (id, _) in answering.Concat(midway))
        {
            var view = await Host(id).GetAsync();
            Assert.True(view!.Refetch!.Status == RefetchStatus.Verified, $"host {id}: expected verified, was {view.Refetch.Status}");
        }

        foreach (var entry in failed)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"host {entry.HostId}: deadline {deadlines[entry.HostId]:HH:mm:ss.fff}, restart {restartedAt:HH:mm:ss.fff}, failed {entry.StatusChangedAt:HH:mm:ss.fff}");
            var bound = Max(deadlines[entry.HostId], restartedAt) + s_reminderPeriod + s_recoverySlack;
            Assert.True(entry.StatusChangedAt <= bound,
                $"host {entry.HostId}: failed at {entry.StatusChangedAt:O}, deadline {deadlines[entry.HostId]:O}, restart {restartedAt:O}");
            var view = await Host(entry.HostId).GetAsync();
            Assert.Equal(ReasonCodes.AgentSilent, view!.Refetch!.Reason!.Code);
        }
    }

    private IHostGrain Host(string id) => _cluster.Client.GetGrain<IHostGrain>(id);

    private async Task<List<(string Id, string Secret)>> EnrollAsync(
        Dictionary<string, IReadOnlyDictionary<string, string>> details, int count)
    {
        var hosts = new List<(string, string)>();
        for (var i = 0; i < count; i++)
        {
            var id = Guid.NewGuid().ToString().ToUpperInvariant();
            var key = (await Host(id).EnrollAsync(new EnrollRequest(details))).NodeKey;
            hosts.Add((id, key[(key.IndexOf(':', StringComparison.Ordinal) + 1)..]));
        }

        return hosts;
    }

    private async Task<List<HostIndexEntry>> WaitForIndexAsync(IEnumerable<string> hostIds, RefetchStatus status, TimeSpan timeout)
    {
        var wanted = hostIds.ToHashSet(StringComparer.Ordinal);
        using var cancellation = new CancellationTokenSource(timeout);
        while (true)
        {
            var found = new List<HostIndexEntry>();
            for (var shard = 0; shard < HostIndex.ShardCount; shard++)
            {
                var page = await _cluster.Client.GetGrain<IHostIndexShardGrain>(shard)
                    .QueryAsync(new HostQuery(status, null, null, 10_000));
                found.AddRange(page.Entries.Where(e => wanted.Contains(e.HostId)));
            }

            if (found.Count == wanted.Count)
            {
                return found;
            }

            // The hosts' reminders run on the silo's real clock; the index is where their outcome shows.
            if (cancellation.IsCancellationRequested)
            {
                Assert.Fail($"{wanted.Count - found.Count} of {wanted.Count} silent hosts not {status} within {timeout}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), TestContext.Current.CancellationToken);
        }
    }

    private static DetailResults Answers() => new(
        s_required.ToDictionary(n => n, IReadOnlyList<IReadOnlyDictionary<string, string>> (_) => [new Dictionary<string, string> { ["version"] = "15.1" }]),
        s_required.ToDictionary(n => n, _ => 0),
        new Dictionary<string, string>());

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
