using System.Net;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// The benchmark's floor endpoint: a no-op check-in that makes one call to a grain that does nothing. It answers
/// exactly as <c>distributed/read</c> does when nothing is owed, refuses what the real endpoint refuses, and does not
/// exist unless the benchmark switch is on.
/// </summary>
public sealed class BenchmarkBaselineTests(ClusterFixture fixture)
{
    private const string FloorPath = "/bench/baseline/grain-call/distributed/read";

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
    public async Task GrainCallFloor_WithoutTheSwitch_IsNotMapped()
    {
        using var agents = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(agents, AgentProfile.Ubuntu);

        using var response = await agents.PostJsonAsync(FloorPath, agent.NodeKeyBody());

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
