using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace Fleet.Tests.Resilience;

/// <summary>
/// Two silos with the product's <c>Fleet:Cluster</c> settings; one is killed without warning while hosts it held
/// have refetches in flight. The survivor must take over their reminders so each still fails at its deadline,
/// and Api reads of those hosts must come back after a short blip, failing meanwhile only with 503.
/// </summary>
public sealed class TwoSiloFailoverTests : IAsyncLifetime
{
    private static readonly TimeSpan s_settleLimit = TimeSpan.FromSeconds(60);

    private OwnCluster _own = null!;

    private TestCluster Cluster => _own.Cluster;

    public async ValueTask InitializeAsync() => _own = await OwnCluster.StartAsync(silos: 2);

    public ValueTask DisposeAsync() => _own.DisposeAsync();

    [Fact]
    public async Task KilledSilo_HostsItHeldStillFailAtTheirDeadline_AndReadsRecoverAfterABlip()
    {
        var output = TestContext.Current.TestOutputHelper;
        var operators = _own.Api.CreateOperatorClient();
        var hosts = new List<string>();
        for (var i = 0; i < 16; i++)
        {
            var agent = await TestAgent.EnrollAsync(_own.Api.CreateClient(), AgentProfile.Ubuntu);
            using var refetch = await operators.RefetchAsync(agent.HostId);
            await ApiTestKit.ExpectStatusAsync(refetch, HttpStatusCode.Accepted, $"refetch of {agent.HostId}");
            hosts.Add(agent.HostId);
        }

        var victim = Cluster.SecondarySilos[0];
        var held = await HostsOnAsync(victim.SiloAddress, hosts);
        Assert.True(held.Count > 0, $"none of {hosts.Count} hosts was placed on {victim.SiloAddress}; nothing to fail over");

        var clock = Stopwatch.StartNew();
        await Cluster.KillSiloAsync(victim, ApiTestKit.TestAborted);
        var declaredDead = WaitForDeathAsync(victim.SiloAddress, clock);
        var reads = await ReadUntilFailedAsync(operators, held, clock);
        var deadAfter = await declaredDead;

        var failures = reads.Where(r => r.Status != HttpStatusCode.OK).ToList();
        output?.WriteLine($"{held.Count} of {hosts.Count} hosts were on the killed silo; declared dead after {deadAfter.TotalSeconds:F1} s");
        output?.WriteLine(failures.Count == 0
            ? $"{reads.Count} reads, none failed"
            : $"{reads.Count} reads, {failures.Count} failed between {failures[0].At.TotalSeconds:F1} s and {failures[^1].At.TotalSeconds:F1} s after the kill");
        output?.WriteLine($"every held host failed its refetch {reads[^1].At.TotalSeconds:F1} s after the kill");
        Assert.All(failures, r => Assert.True(
            r.Status == HttpStatusCode.ServiceUnavailable,
            $"a read {r.At.TotalSeconds:F1} s after the kill answered {(int)r.Status}, not 200 or 503"));
    }

    private async Task<List<string>> HostsOnAsync(SiloAddress silo, IReadOnlyCollection<string> hostIds)
    {
        var statistics = await Cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(hostsIds: [silo]);
        var placed = statistics.Select(s => s.GrainId.Key.ToString()!).ToHashSet(StringComparer.OrdinalIgnoreCase);

        return [.. hostIds.Where(placed.Contains)];
    }

    /// <summary>How long after the kill the survivor's membership stopped listing the killed silo as active.</summary>
    private async Task<TimeSpan> WaitForDeathAsync(SiloAddress silo, Stopwatch clock)
    {
        var management = Cluster.Client.GetGrain<IManagementGrain>(0);
        while (clock.Elapsed < s_settleLimit)
        {
            try
            {
                var active = await management.GetHosts(onlyActive: true);
                if (!active.ContainsKey(silo))
                {
                    return clock.Elapsed;
                }
            }
            catch (Exception exception) when (exception is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException)
            {
                // The management grain may itself have lived on the killed silo; ask again.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ApiTestKit.TestAborted);
        }

        Assert.Fail($"silo {silo} still active {s_settleLimit.TotalSeconds} s after it was killed");
        return TimeSpan.Zero;
    }

    /// <summary>Reads every held host through the Api, round after round, until all show a failed refetch.</summary>
    private static async Task<List<(TimeSpan At, HttpStatusCode Status)>> ReadUntilFailedAsync(
        HttpClient operators, List<string> held, Stopwatch clock)
    {
        var reads = new List<(TimeSpan, HttpStatusCode)>();
        var failed = new HashSet<string>(StringComparer.Ordinal);
        while (failed.Count < held.Count)
        {
            Assert.True(clock.Elapsed < s_settleLimit,
                $"{held.Count - failed.Count} of {held.Count} hosts on the killed silo not failed within {s_settleLimit.TotalSeconds} s: " +
                string.Join(", ", held.Except(failed)));
            foreach (var hostId in held.Except(failed).ToList())
            {
                using var response = await operators.GetAsync($"/api/v1/hosts/{hostId}", ApiTestKit.TestAborted);
                reads.Add((clock.Elapsed, response.StatusCode));
                if (response.StatusCode == HttpStatusCode.OK
                    && JsonNode.Parse(await response.Content.ReadAsStringAsync(ApiTestKit.TestAborted)) is JsonObject host
                    && ApiTestKit.Text(host["refetch"], "status") == "failed")
                {
                    failed.Add(hostId);
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ApiTestKit.TestAborted);
        }

        return reads;
    }
}
