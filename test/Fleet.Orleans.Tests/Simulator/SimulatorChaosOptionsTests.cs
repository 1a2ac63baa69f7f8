using System.Diagnostics;
using System.Net;
using Fleet.AgentSimulator;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Simulator;

/// <summary>
/// The simulator options the chaos suite drives: agents whose clocks are skewed, reconnect storms, and request
/// counts by cause written to a stats file.
/// </summary>
public sealed class SimulatorChaosOptionsTests(ClusterFixture fixture)
{
    private static readonly DateTimeOffset s_now = new(2026, 3, 2, 9, 30, 15, TimeSpan.Zero);

    private static readonly string[] s_required = ["--api", "http://127.0.0.1:5080", "--enroll-secret", "secret", "--ubuntu", "1"];

    [Fact]
    public void Parse_ChaosOptions_AreRead()
    {
        var parsed = OptionsParser.Parse([.. s_required, "--clock-skew", "-5m", "--reconnect-storm", "30s", "--stats", "counts.jsonl"], _ => null);

        Assert.Null(parsed.Error);
        Assert.Equal(
            (TimeSpan.FromMinutes(-5), (TimeSpan?)TimeSpan.FromSeconds(30), "counts.jsonl"),
            (parsed.Options!.ClockSkew, parsed.Options.ReconnectStorm, parsed.Options.StatsFile));
    }

    [Theory]
    [InlineData("--clock-skew", "soon")]
    [InlineData("--reconnect-storm", "0s")]
    [InlineData("--reconnect-storm", "-30s")]
    public void Parse_BadChaosValue_FailsNamingTheOption(string option, string value)
    {
        var parsed = OptionsParser.Parse([.. s_required, option, value], _ => null);

        Assert.Equal($"bad value for {option}: '{value}'", parsed.Error);
    }

    [Fact]
    public void ClockSkew_MacStampsInstalledProfileWithItsSkewedClock()
    {
        var options = Options(1, skew: TimeSpan.FromSeconds(300), HostProfile.MacOS14);
        using var http = new HttpClient();
        var mac = HostPlan.CreateAgents(options, http, new FakeTimeProvider(s_now), pki: null).Single().Mac!;

        mac.BeginSession();
        mac.Answer(SimulatedMacTests.InstallProfile("c0ffee00-0000-4000-8000-000000000001", "com.fleet.wifi", "Office Wi-Fi"));
        mac.EndSession();

        var installed = mac.Profiles.Single(profile => profile.Identifier == "com.fleet.wifi");
        Assert.Equal(s_now.AddSeconds(300), installed.InstallDate);
    }

    [Fact]
    public async Task ReconnectStorm_EveryAgentDropsItsNodeKeyAndEnrollsAgainAtOnce()
    {
        using var http = fixture.AgentClient();
        var options = Options(4, TimeSpan.Zero, HostProfile.Ubuntu);
        var counters = new RequestCounters();
        var agents = HostPlan.CreateAgents(options, http, TimeProvider.System, pki: null, counters);
        using var storm = new ReconnectStorm();
        var scheduler = new AgentScheduler(options, new ErrorLog(Stopwatch.StartNew()), storm);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestAborted);
        var running = agents.Select((agent, index) => scheduler.RunAsync(agent, index + 1, stop.Token)).ToList();
        await UntilAsync(() => agents.All(agent => agent.Enrolls == 1), "every agent enrolled once");

        storm.Trigger();
        await UntilAsync(() => agents.All(agent => agent.Reads == 1), "every agent checked in after the storm");

        // Each agent: two enrolls, the config it fetches on its first tick, its read and the write of any queries.
        long Sent() => agents.Sum(agent => (long)agent.Enrolls + 1 + agent.Reads + agent.Writes);
        await UntilAsync(() => counters.Attempted == Sent(), "every request counted");
        await stop.CancelAsync();
        await Task.WhenAll(running);

        // The interval is an hour: only the storm can have made each agent enroll again and check in.
        Assert.All(agents, agent => Assert.Equal((1, 2, 1), (agent.Reconnects, agent.Enrolls, agent.Reads)));
        Assert.Equal((Sent(), Sent(), 0L), (counters.Attempted, counters.Succeeded, counters.Failed));
        foreach (var agent in agents)
        {
            var host = await fixture.OperatorClient().GetHostAsync(agent.Identity.Uuid);
            Assert.Equal(agent.Identity.Uuid, Text(host, "host_id"));
        }
    }

    [Fact]
    public async Task RequestCounters_CountEachRequestAndEachFailureByCause()
    {
        using var http = fixture.AgentClient();
        var counters = new RequestCounters();
        var identity = HostIdentity.Create(HostProfile.Ubuntu, 7102, 1);
        var refused = new SimulatedAgent(http, http.BaseAddress!, "not-the-secret", HostProfile.Ubuntu, identity, FaultMode.None, counters: counters);
        using var nowhere = new HttpClient();
        var unreachable = new SimulatedAgent(
            nowhere, new Uri($"http://127.0.0.1:{ClosedPort()}"), ApiFactory.EnrollSecret, HostProfile.Ubuntu, identity, FaultMode.None, counters: counters);
        var healthy = new SimulatedAgent(http, http.BaseAddress!, ApiFactory.EnrollSecret, HostProfile.Ubuntu, identity, FaultMode.None, counters: counters);

        await Assert.ThrowsAsync<HttpRequestException>(() => refused.EnrollAsync(TestAborted));
        await Assert.ThrowsAsync<HttpRequestException>(() => unreachable.EnrollAsync(TestAborted));
        await healthy.EnrollAsync(TestAborted);

        var path = Path.Combine(Path.GetTempPath(), $"simulator-stats-{Guid.NewGuid():N}.jsonl");
        try
        {
            RequestStats.Append(path, counters, new FakeTimeProvider(s_now));
            Assert.Equal(
                """{"at":"2026-03-02T09:30:15.0000000\u002B00:00","attempted":3,"succeeded":1,"failed":{"401":1,"connection":1}}""" + "\n",
                await File.ReadAllTextAsync(path, TestAborted));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static SimulatorOptions Options(int hosts, TimeSpan skew, HostProfile profile) => new()
    {
        Api = new Uri("http://127.0.0.1:5080"),
        EnrollSecret = ApiFactory.EnrollSecret,
        Hosts = [(profile, hosts)],
        Seed = 7101,
        Interval = TimeSpan.FromHours(1),
        Mdm = false,
        ClockSkew = skew,
    };

    private static async Task UntilAsync(Func<bool> done, string what) =>
        await EventuallyAsync(() => Task.FromResult(done()), value => value, what, TimeSpan.FromSeconds(30));

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
