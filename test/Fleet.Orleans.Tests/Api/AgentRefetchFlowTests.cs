using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// Whole refetches over HTTP: an operator asks, a replayed real agent answers (or does not), and the
/// operator reads the outcome. macOS hosts never time out during a test; Ubuntu hosts do within seconds.
/// </summary>
public sealed class AgentRefetchFlowTests(ClusterFixture fixture)
{
    private const string OsVersionQuery = "fleet_detail_query_os_version";

    private static readonly string[] s_requiredQueries =
    [
        "fleet_detail_query_os_version",
        "fleet_detail_query_osquery_info",
        "fleet_detail_query_system_info",
        "fleet_detail_query_uptime",
    ];

    /// <summary>What each real payload says about its machine once its detail queries are answered.</summary>
    public static TheoryData<string, string, string, string?, string, string> Payload => new()
    {
        { "macos14", "darwin", "14.1.2", "23B92", "4.1.2", "test-mac-01" },
        { "macos13", "darwin", "13.6.2", "22G320", "4.1.2", "test-mac-01" },
        { "ubuntu", "linux", "22.04.1 LTS (Jammy Jellyfish)", null, "5.5.1", "test-linux-01" },
    };

    [Theory]
    [MemberData(nameof(Payload))]
    public async Task Replay_OfRealPayload_VerifiesTheHostWithThePayloadVitals(
        string profileName, string platform, string osVersion, string? osBuild, string osqueryVersion, string hostname)
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), Profile(profileName));
        using var http = fixture.OperatorClient();

        using var requested = await http.RefetchAsync(agent.HostId);
        var queries = await agent.ReadAsync();
        var written = await agent.WriteAsync(queries);
        var host = await http.GetHostAsync(agent.HostId);

        await ExpectStatusAsync(requested, HttpStatusCode.Accepted, $"{profileName} host {agent.HostId}: refetch");
        var missing = s_requiredQueries.Except(queries).ToList();
        Assert.True(missing.Count == 0, $"{profileName} host {agent.HostId}: no {string.Join(", ", missing)} handed out");
        Assert.Equal(HttpStatusCode.OK, written);
        var refetch = host["refetch"]!;
        Assert.True(
            Text(refetch, "status") == "verified",
            $"{profileName} host {agent.HostId}: expected verified, got {Show(refetch)}");
        Assert.Equal(1, Int(refetch, "epoch"));
        Assert.NotNull(refetch["completed_at"]);
        Assert.Null(refetch["deadline"]);
        Assert.Null(refetch["reason"]);
        Assert.Equal(["pending", "verifying", "verified"], host["transitions"]!.AsArray().Select(t => Text(t, "to")));
        var expected = new Dictionary<string, string?>
        {
            ["hardware_uuid"] = agent.HostId,
            ["serial"] = agent.Identity.Serial,
            ["hostname"] = hostname,
            ["platform"] = platform,
            ["os_version"] = osVersion,
            ["os_build"] = osBuild,
            ["osquery_version"] = osqueryVersion,
        };
        ExpectTexts(host["details"], expected, $"{profileName} host {agent.HostId} details");
        Assert.Equal(16691, Int(host["details"], "uptime_seconds"));
        Assert.NotNull(host["detail_updated_at"]);
    }

    [Fact]
    public async Task Refetch_WhenResultsOfAnEarlierReadArriveAfterTheRequest_StaysPendingUntilTheNextRead()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();

        var before = await agent.ReadAsync();
        using var requestedResponse = await http.RefetchAsync(agent.HostId);
        var requested = await ExpectStatusAsync(requestedResponse, HttpStatusCode.Accepted, $"refetch of {agent.HostId}");
        Assert.Equal(HttpStatusCode.OK, await agent.WriteAsync(s_requiredQueries));
        var afterStaleWrite = await http.GetHostAsync(agent.HostId);
        var handedOut = await agent.ReadAsync();
        var verifying = await http.GetHostAsync(agent.HostId);
        Assert.Equal(HttpStatusCode.OK, await agent.WriteAsync(handedOut));
        var done = await http.GetHostAsync(agent.HostId);

        Assert.True(before.Count == 0, $"host {agent.HostId}: read before the request got {string.Join(", ", before)}");
        Assert.True(
            Text(afterStaleWrite["refetch"], "status") == "pending",
            $"host {agent.HostId}: the stale write moved the epoch to {Show(afterStaleWrite["refetch"])}");
        Assert.Contains(OsVersionQuery, handedOut);
        Assert.Equal("verifying", Text(verifying["refetch"], "status"));
        Assert.True(
            Text(done["refetch"], "status") == "verified",
            $"host {agent.HostId}: expected verified, got {Show(done["refetch"])}");
        Assert.Equal(Int(requested, "epoch"), Int(done["refetch"], "epoch"));
    }

    [Fact]
    public async Task Refetch_WhenAgentReportsAQueryError_RetriesOnceThenFailsWithTheAgentMessage()
    {
        const string message = "no such table: os_version";
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.Ubuntu);
        using var http = fixture.OperatorClient();
        (await http.RefetchAsync(agent.HostId)).Dispose();

        var firstQueries = await agent.ReadAsync();
        Assert.Equal(HttpStatusCode.OK, await agent.WriteAsync(firstQueries, OsVersionQuery, message));
        var retried = await http.GetHostAsync(agent.HostId);
        var secondQueries = await agent.ReadAsync();
        Assert.Equal(HttpStatusCode.OK, await agent.WriteAsync(secondQueries, OsVersionQuery, message));
        var failed = await http.GetHostAsync(agent.HostId);

        var retry = retried["refetch"]!;
        Assert.True(Text(retry, "status") == "pending" && Int(retry, "attempt") == 2,
            $"host {agent.HostId}: expected pending attempt 2 after the first error, got {Show(retry)}");
        ExpectAgentErrorReason(retry, message, agent.HostId);
        Assert.NotEmpty(secondQueries);
        var refetch = failed["refetch"]!;
        Assert.True(Text(refetch, "status") == "failed",
            $"host {agent.HostId}: expected failed after the second error, got {Show(refetch)}");
        Assert.Equal(2, Int(refetch, "attempt"));
        Assert.Equal(1, Int(refetch, "epoch"));
        Assert.NotNull(refetch["completed_at"]);
        ExpectAgentErrorReason(refetch, message, agent.HostId);
        Assert.Equal(
            ["pending", "verifying", "pending", "verifying", "failed"],
            failed["transitions"]!.AsArray().Select(t => Text(t, "to")));
    }

    [Fact]
    public async Task Refetch_WhenUbuntuAgentNeverChecksIn_FailsWithAgentSilent()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.Ubuntu);
        using var http = fixture.OperatorClient();

        using var requested = await http.RefetchAsync(agent.HostId);
        var host = await http.WaitForRefetchStatusAsync(agent.HostId, "failed", TimeSpan.FromSeconds(10));

        await ExpectStatusAsync(requested, HttpStatusCode.Accepted, $"refetch of host {agent.HostId}");
        var refetch = host["refetch"]!;
        Assert.Equal("agent_silent", Text(refetch["reason"], "code"));
        Assert.False(string.IsNullOrWhiteSpace(Text(refetch["reason"], "message")), $"host {agent.HostId}: no reason message");
        Assert.Equal(2, Int(refetch, "attempt"));
        Assert.Equal(2, Int(refetch, "max_attempts"));
        var transitions = host["transitions"]!.AsArray();
        Assert.Equal(["pending", "pending", "failed"], transitions.Select(t => Text(t, "to")));
        Assert.Equal("agent_silent", Text(transitions[^1]!["reason"], "code"));
        var listed = await EventuallyAsync(
            async () => (await http.ListRowsAsync("status=failed&platform=linux&limit=500"))
                .FirstOrDefault(r => Text(r, "host_id") == agent.HostId),
            row => row is not null,
            $"host {agent.HostId} listed as failed");
        Assert.Equal("agent_silent", Text(listed!["reason"], "code"));
    }

    [Fact]
    public async Task Refetch_WhenUbuntuAgentTakesQueriesButNeverAnswers_FailsWithAgentNoResults()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.Ubuntu);
        using var http = fixture.OperatorClient();
        (await http.RefetchAsync(agent.HostId)).Dispose();

        Assert.NotEmpty(await agent.ReadAsync());
        var retried = await http.WaitForRefetchStatusAsync(agent.HostId, "pending", TimeSpan.FromSeconds(5));
        Assert.NotEmpty(await agent.ReadAsync());
        var host = await http.WaitForRefetchStatusAsync(agent.HostId, "failed", TimeSpan.FromSeconds(10));

        Assert.Equal("agent_no_results", Text(retried["refetch"]!["reason"], "code"));
        Assert.Equal("agent_no_results", Text(host["refetch"]!["reason"], "code"));
        Assert.Equal(2, Int(host["refetch"], "attempt"));
    }

    [Fact]
    public async Task Refetch_WhenAgentReEnrollsWhilePending_TheNewNodeKeyCompletesTheSameEpoch()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        using var requestedResponse = await http.RefetchAsync(agent.HostId);
        var requested = await ExpectStatusAsync(requestedResponse, HttpStatusCode.Accepted, $"refetch of {agent.HostId}");

        await agent.EnrollAsync();
        var handedOut = await agent.CheckInAsync();
        var host = await http.GetHostAsync(agent.HostId);

        Assert.True(handedOut > 0, $"host {agent.HostId}: the re-enrolled agent was handed no queries");
        Assert.True(
            Text(host["refetch"], "status") == "verified",
            $"host {agent.HostId}: expected verified after re-enrolling, got {Show(host["refetch"])}");
        Assert.Equal(Int(requested, "epoch"), Int(host["refetch"], "epoch"));
    }

    [Fact]
    public async Task Read_AfterTheRefetchVerified_HandsOutNoQueries()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        (await http.RefetchAsync(agent.HostId)).Dispose();
        Assert.True(await agent.CheckInAsync() > 0, $"host {agent.HostId}: no queries handed out for the refetch");

        var queries = await agent.ReadAsync();

        Assert.True(queries.Count == 0, $"host {agent.HostId}: verified host was handed {string.Join(", ", queries)}");
        Assert.Equal("verified", Text((await http.GetHostAsync(agent.HostId))["refetch"], "status"));
    }

    private static void ExpectAgentErrorReason(JsonNode refetch, string message, string hostId)
    {
        var reason = refetch["reason"];

        Assert.True(Text(reason, "code") == "agent_error", $"host {hostId}: expected reason agent_error, got {Show(reason)}");
        Assert.Contains(message, Text(reason, "message"), StringComparison.Ordinal);
    }

    private static AgentProfile Profile(string name) => name switch
    {
        "macos14" => AgentProfile.MacOs14,
        "macos13" => AgentProfile.MacOs13,
        "ubuntu" => AgentProfile.Ubuntu,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such payload"),
    };
}
