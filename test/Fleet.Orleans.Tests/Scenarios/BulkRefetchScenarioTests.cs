using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fleet.AgentSimulator;
using Fleet.Grains.Jobs;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Scenarios;

/// <summary>
/// The issue's end-to-end test: a fleet of simulated osquery agents (the simulator's own <see cref="SimulatedAgent"/>,
/// in process against the test Api) refetched by one bulk job at 200 requests a second. Every host must end
/// verified, the job's numbers must add up at every poll, and the rate must hold both as the job reports it
/// and as the hosts' own <c>requested_at</c> times show it. <c>FLEET_E2E_HOSTS</c> sets the fleet size (2,000).
/// </summary>
public sealed class BulkRefetchScenarioTests(ClusterFixture fixture)
{
    private const int Rate = 200;
    private const int DefaultHosts = 2_000;
    private const int CheckInWorkers = 32;

    /// <summary>The job's own rate may run this much over what was asked, as sampled between polls.</summary>
    private const double RateSlack = 1.1;

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    [Fact]
    public async Task SimulatedFleet_BulkRefetchAt200PerSecond_EveryHostVerifiedAndTheProgressAddsUp()
    {
        var count = FleetSize();
        using var agentHttp = fixture.AgentClient();
        using var operatorHttp = fixture.OperatorClient();
        var seed = RandomNumberGenerator.GetInt32(1, HostIdentity.MaxSeed);
        var team = string.Create(CultureInfo.InvariantCulture, $"e2e-{seed}");
        var agents = MakeAgents(agentHttp, seed, count);
        await ForEachAsync(agents, 32, a => a.EnrollAsync(TestAborted));
        await ForEachAsync(agents, 32, a => SetTeamAsync(operatorHttp, a.Identity.Uuid, team));
        await EventuallyAsync(
            () => operatorHttp.GetFromJsonAsync<HostPage>($"/api/v1/hosts?team_id={team}&limit=1", s_json, TestAborted),
            page => page?.Total == count,
            $"the index listing all {count} hosts of team {team}",
            TimeSpan.FromSeconds(30),
            page => $"{page?.Total} hosts");

        using var stopAgents = CancellationTokenSource.CreateLinkedTokenSource(TestAborted);
        var checkIns = CheckInUntilAsync(agents, stopAgents.Token);
        var started = await StartJobAsync(operatorHttp, team);
        var polls = await PollUntilFinishedAsync(operatorHttp, started, count);
        await stopAgents.CancelAsync();
        await checkIns;

        var final = polls[^1];
        Assert.Equal(("completed", count, count), (final.State, final.Matched, final.Requested));
        Assert.Equal((0, 0, count, 0, 0, 0), (final.Pending, final.Verifying, final.Verified, final.Failed, final.Superseded, final.Unknown));
        Assert.NotNull(final.FinishedAt);
        Assert.All(polls, ExpectNumbersAddUp);
        AssertNeverFaster(polls.Where(p => p.State == "running").Select(p => p.RequestsPerSecond), "the job's requests_per_second");

        var hosts = await ReadRefetchesAsync(operatorHttp, agents);
        var notVerified = hosts.Where(h => h.Status != "verified").Select(h => $"{h.HostId} {h.Status}").ToList();
        Assert.True(notVerified.Count == 0, $"{notVerified.Count} of {count} hosts not verified: {string.Join(", ", notVerified.Take(10))}");
        ExpectPaced(hosts.Select(h => h.RequestedAt).Order().ToList());
        var verified = await operatorHttp.GetFromJsonAsync<HostPage>($"/api/v1/hosts?team_id={team}&status=verified&limit=1", s_json, TestAborted);
        Assert.Equal(count, verified!.Total);
    }

    private static int FleetSize() =>
        int.TryParse(Environment.GetEnvironmentVariable("FLEET_E2E_HOSTS"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : DefaultHosts;

    /// <summary>Macs on macOS 14 and 15, whose refetch deadlines never fall inside a test run (see FleetTestCluster).</summary>
    private static List<SimulatedAgent> MakeAgents(HttpClient http, int seed, int count) =>
    [
        .. Enumerable.Range(1, count).Select(n =>
        {
            var profile = n % 2 == 0 ? HostProfile.MacOS14 : HostProfile.MacOS15;

            return new SimulatedAgent(http, http.BaseAddress!, ApiFactory.EnrollSecret, profile, HostIdentity.Create(profile, seed, n), FaultMode.None);
        }),
    ];

    private static async Task SetTeamAsync(HttpClient http, string hostId, string team)
    {
        using var response = await http.PutAsJsonAsync($"/api/v1/hosts/{hostId}/team", new { team_id = team }, TestAborted);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"PUT team of {hostId}: {(int)response.StatusCode}");
    }

    private static async Task<RefetchJob> StartJobAsync(HttpClient http, string team)
    {
        using var response = await http.PostAsJsonAsync("/api/v1/refetch_jobs", new { filter = new { team_id = team }, rate = Rate }, TestAborted);
        var text = await response.Content.ReadAsStringAsync(TestAborted);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"POST /api/v1/refetch_jobs: {(int)response.StatusCode} {text}");
        var job = JsonSerializer.Deserialize<RefetchJob>(text, s_json)!;
        Assert.Equal($"/api/v1/refetch_jobs/{job.JobId}", response.Headers.Location?.OriginalString);
        Assert.Equal(Rate, job.Rate);

        return job;
    }

    /// <summary>Polls the job every half second until it is completed (at most five minutes); returns every poll.</summary>
    private static async Task<List<RefetchJob>> PollUntilFinishedAsync(HttpClient http, RefetchJob started, int count)
    {
        var polls = new List<RefetchJob> { started };
        var clock = Stopwatch.StartNew();
        var limit = TimeSpan.FromSeconds(count / (double)Rate) + TimeSpan.FromMinutes(4);
        while (polls[^1].State is "running" or "draining")
        {
            Assert.True(clock.Elapsed < limit, $"job {started.JobId} not finished after {limit.TotalSeconds:0} s; last {polls[^1]}");
            await Task.Delay(TimeSpan.FromMilliseconds(500), TestAborted);
            var job = await http.GetFromJsonAsync<RefetchJob>($"/api/v1/refetch_jobs/{started.JobId}", s_json, TestAborted);
            Assert.True(job!.Requested >= polls[^1].Requested, $"requested went back from {polls[^1].Requested} to {job.Requested}");
            polls.Add(job);
        }

        return polls;
    }

    private static void ExpectNumbersAddUp(RefetchJob job)
    {
        var sum = job.Pending + job.Verifying + job.Verified + job.Failed + job.Superseded;
        Assert.True(job.Requested == sum, $"requested {job.Requested} but pending + verifying + verified + failed + superseded = {sum}: {job}");
        Assert.True(job.Requested <= job.Matched, $"requested {job.Requested} of {job.Matched} matched: {job}");
    }

    private static void AssertNeverFaster(IEnumerable<double> rates, string what)
    {
        var fastest = rates.DefaultIfEmpty(0).Max();
        Assert.True(fastest <= Rate * RateSlack, $"{what} reached {fastest:0.0}/s, asked {Rate}/s");
    }

    /// <summary>
    /// The hosts' request times: no one-second window holds more than the rate (plus a tenth, for the time a
    /// grant takes to reach its host) and one burst of the job's token bucket, which starts full, and the whole fleet
    /// took at least as long as the rate allows after one second's burst.
    /// </summary>
    private static void ExpectPaced(List<DateTimeOffset> requested)
    {
        var busiest = 0;
        for (int i = 0, j = 0; i < requested.Count; i++)
        {
            while (requested[i] - requested[j] >= TimeSpan.FromSeconds(1))
            {
                j++;
            }

            busiest = Math.Max(busiest, i - j + 1);
        }

        var span = (requested[^1] - requested[0]).TotalSeconds;
        var floor = (requested.Count - Rate) / (Rate * RateSlack);
        var most = (Rate * RateSlack) + TokenBucket.BurstFor(Rate);
        Assert.True(busiest <= most, $"{busiest} hosts requested within one second, asked {Rate}/s (at most {most:0} with the bucket's burst)");
        Assert.True(span >= floor, $"{requested.Count} hosts requested within {span:0.00} s; {Rate}/s needs at least {floor:0.00} s");
    }

    private static async Task<List<HostRefetch>> ReadRefetchesAsync(HttpClient http, List<SimulatedAgent> agents)
    {
        var hosts = new HostRefetch[agents.Count];
        await ForEachAsync(Enumerable.Range(0, agents.Count).ToList(), 16, async i =>
        {
            var host = await http.GetHostAsync(agents[i].Identity.Uuid);
            hosts[i] = new HostRefetch(
                agents[i].Identity.Uuid, Text(host["refetch"], "status"), ScenarioChecks.Instant(host["refetch"], "requested_at"));
        });

        return [.. hosts];
    }

    /// <summary>
    /// Each worker owns every <see cref="CheckInWorkers"/>-th agent (one agent's calls never overlap) and checks
    /// them in one after another, a second's pause after each round, the way osquery polls.
    /// </summary>
    private static Task CheckInUntilAsync(List<SimulatedAgent> agents, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, CheckInWorkers).Select(async worker =>
        {
            try
            {
                while (true)
                {
                    for (var i = worker; i < agents.Count; i += CheckInWorkers)
                    {
                        try
                        {
                            await agents[i].CheckInAsync(stop);
                        }
                        catch (HttpRequestException)
                        {
                            // As osquery does, the agent tries again on its next round; a host left unanswered fails the test.
                        }
                    }

                    await Task.Delay(TimeSpan.FromSeconds(1), stop);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The job finished.
            }
        }));

    private static Task ForEachAsync<T>(List<T> items, int parallel, Func<T, Task> action) =>
        Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = TestAborted }, async (item, _) => await action(item));

    private sealed record HostRefetch(string HostId, string? Status, DateTimeOffset RequestedAt);

    private sealed record HostPage(int Total, string? NextCursor);

    /// <summary>The job JSON of the operator API (snake_case), as the test reads it.</summary>
    private sealed record RefetchJob(
        string JobId,
        string State,
        int Rate,
        int Matched,
        int Requested,
        int Pending,
        int Verifying,
        int Verified,
        int Failed,
        int Superseded,
        int Unknown,
        double RequestsPerSecond,
        DateTimeOffset CreatedAt,
        DateTimeOffset? StartedAt,
        DateTimeOffset? FinishedAt,
        DateTimeOffset UpdatedAt,
        [property: JsonPropertyName("host_ids")] int? HostIds);
}
