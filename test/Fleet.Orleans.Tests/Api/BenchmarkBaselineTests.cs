using System.Net;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// The benchmark's floor endpoint: a no-op check-in that makes one call to a grain that does nothing. It answers
/// exactly as <c>distributed/read</c> does when nothing is owed, refuses what the real endpoint refuses, and does not
/// exist unless the benchmark switch is on. The asking endpoint is the real read without leases.
/// </summary>
public sealed class BenchmarkBaselineTests(ClusterFixture fixture)
{
    private const string FloorPath = "/bench/baseline/grain-call/distributed/read";
    private const string AskingPath = "/bench/baseline/asking/distributed/read";

    [Fact]
    public async Task GrainCallFloor_WithTheSwitchOn_AnswersLikeANoOpReadAndRefusesBadKeys()
    {
        await using var bench = new ApiFactory(fixture.Cluster)
            .WithWebHostBuilder(builder => builder.UseSetting("Fleet:Benchmark:BaselineEndpoints", "true"));
        using var http = bench.CreateClient();
        using var agents = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(agents, AgentProfile.Ubuntu);

        using var read = await http.PostJsonAsync(FloorPath, agent.NodeKeyBody());
        using var malformedKey = await http.PostJsonAsync(FloorPath, """{"node_key":"not a node key"}""");
        using var notJson = await http.PostJsonAsync(FloorPath, "{");

        await ExpectStatusAsync(read, HttpStatusCode.OK, $"host {agent.HostId}: floor read");
        Assert.Equal("""{"queries":{}}""", await read.Content.ReadAsStringAsync(TestAborted));
        await ExpectNodeInvalidAsync(malformedKey, "floor read with a malformed node key");
        await ExpectBadAgentRequestAsync(notJson, "floor read of a body that is not JSON");
    }

    [Fact]
    public async Task AskingRead_WithTheSwitchOn_AsksTheHostEveryTime_WhileTheRealReadIsCountedUnderItsLease()
    {
        await using var bench = new ApiFactory(fixture.Cluster)
            .WithWebHostBuilder(builder => builder.UseSetting("Fleet:Benchmark:BaselineEndpoints", "true"));
        using var http = bench.CreateClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.Ubuntu);
        var host = fixture.Grains.GetGrain<Fleet.Contracts.IHostGrain>(agent.HostId);

        var answeredAtStart = await LeaseAnswersAsync(http);
        var seen = new List<DateTimeOffset?>();
        for (var i = 0; i < 2; i++)
        {
            await Task.Delay(20, TestAborted);
            using var asking = await http.PostJsonAsync(AskingPath, agent.NodeKeyBody());
            await ExpectStatusAsync(asking, HttpStatusCode.OK, $"host {agent.HostId}: asking read {i + 1}");
            Assert.Equal("""{"queries":{}}""", await asking.Content.ReadAsStringAsync(TestAborted));
            seen.Add((await host.GetAsync())!.LastSeenAt);
        }

        var answeredAfterAsking = await LeaseAnswersAsync(http);
        for (var i = 0; i < 3; i++)
        {
            using var read = await http.PostJsonAsync("/api/osquery/distributed/read", agent.NodeKeyBody());
            await ExpectStatusAsync(read, HttpStatusCode.OK, $"host {agent.HostId}: real read {i + 1}");
        }

        var answeredAfterReads = await LeaseAnswersAsync(http);
        using var forged = await http.PostJsonAsync(AskingPath, $$"""{"node_key":"{{agent.HostId}}:not-the-secret"}""");

        Assert.True(seen[1] > seen[0], $"host {agent.HostId}: the second asking read did not reach the host ({seen[0]:O}, {seen[1]:O})");
        Assert.Equal(answeredAtStart, answeredAfterAsking);
        Assert.Equal(2, answeredAfterReads - answeredAfterAsking);
        await ExpectNodeInvalidAsync(forged, "asking read with a made-up secret");
    }

    private static async Task<long> LeaseAnswersAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/bench/leases", TestAborted);
        var body = await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /bench/leases");

        return body["answered"]!.GetValue<long>();
    }

    [Fact]
    public async Task GrainCallFloor_WithoutTheSwitch_IsNotMapped()
    {
        using var agents = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(agents, AgentProfile.Ubuntu);

        using var response = await agents.PostJsonAsync(FloorPath, agent.NodeKeyBody());

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
