using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Security;

/// <summary>
/// A distributed/write sent twice (osquery retries when it did not see the 200) counts once: the refetch passes
/// each state once, and the bulk job that asked counts the host once. Resent MDM results are covered by
/// MacScenarioTests.Case9 (over HTTP) and HostGrainMdmTests.ResentResult_IsADuplicate (on the grain).
/// </summary>
public sealed class DuplicateAgentReportTests(ClusterFixture fixture)
{
    [Fact]
    public async Task DistributedWrite_SentTwice_VerifiesOnce_AndTheJobCountsTheHostOnce()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        using var started = await http.PostJsonAsync("/api/v1/refetch_jobs", $"{{\"host_ids\": [\"{agent.HostId}\"]}}");
        var job = await ExpectStatusAsync(started, HttpStatusCode.Accepted, $"job for host {agent.HostId}");
        var queries = await EventuallyAsync(agent.ReadAsync, q => q.Count > 0, $"host {agent.HostId} handed its detail queries");

        var first = await agent.WriteAsync(queries);
        var verified = await http.GetHostAsync(agent.HostId);
        var second = await agent.WriteAsync(queries);
        var host = await http.GetHostAsync(agent.HostId);
        var done = await EventuallyAsync(
            async () =>
            {
                using var response = await http.GetAsync($"/api/v1/refetch_jobs/{Text(job, "job_id")}", TestAborted);
                return await ExpectStatusAsync(response, HttpStatusCode.OK, $"job {Text(job, "job_id")}");
            },
            j => Text(j, "state") == "completed",
            $"job {Text(job, "job_id")} completing",
            TimeSpan.FromSeconds(20));

        Assert.Equal(HttpStatusCode.OK, first);
        Assert.Equal(HttpStatusCode.OK, second);
        Assert.Equal("verified", Text(verified["refetch"], "status"));
        Assert.True(JsonNode.DeepEquals(verified["refetch"], host["refetch"]), $"host {agent.HostId}: {Show(verified["refetch"])} became {Show(host["refetch"])}");
        Assert.Equal(["pending", "verifying", "verified"], host["transitions"]!.AsArray().Select(t => Text(t, "to")));
        Assert.Equal(
            (1, 1, 0, 0, 0),
            (Int(done, "requested"), Int(done, "verified"), Int(done, "failed"), Int(done, "pending"), Int(done, "verifying")));
    }
}
