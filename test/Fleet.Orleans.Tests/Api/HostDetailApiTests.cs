using System.Net;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>GET /api/v1/hosts/{id} through the real Api: identity, vitals, refetch, transitions, errors, roles.</summary>
public sealed class HostDetailApiTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Get_AfterEnroll_ReturnsIdentityAndVitalsFromTheEnrollment()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();

        var host = await http.GetHostAsync(agent.HostId);

        var expected = new Dictionary<string, string?>
        {
            ["hardware_uuid"] = agent.HostId,
            ["serial"] = agent.Identity.Serial,
            ["hostname"] = "test-mac-01",
            ["platform"] = "darwin",
            ["os_name"] = "Mac OS X",
            ["os_version"] = "14.1.2",
            ["os_build"] = "23B92",
            ["osquery_version"] = "4.6.0",
            ["hardware_model"] = "MacBookPro11,4",
        };
        ExpectTexts(host["details"], expected, $"host {agent.HostId} details");
        Assert.Equal(agent.HostId, Text(host, "host_id"));
        Assert.Equal(8, Int(host["details"], "cpu_logical_cores"));
        Assert.NotNull(host["enrolled_at"]);
        Assert.NotNull(host["last_seen_at"]);
        ExpectFields(host, ["detail_updated_at", "refetch"], $"host {agent.HostId}");
        Assert.True(
            host["detail_updated_at"] is null && host["refetch"] is null,
            $"host {agent.HostId}: expected no results and no refetch yet, got {Show(host)}");
        Assert.Empty(host["transitions"]!.AsArray());
    }

    [Fact]
    public async Task Get_AfterRefetchRequest_ShowsTheRefetchAndItsTransition()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        using var refetch = await http.RefetchAsync(agent.HostId);
        var requested = await ExpectStatusAsync(refetch, HttpStatusCode.Accepted, $"refetch of {agent.HostId}");

        var host = await http.GetHostAsync(agent.HostId);

        Assert.Equal(Text(requested, "requested_at"), Text(host["refetch"], "requested_at"));
        Assert.Equal("pending", Text(host["refetch"], "status"));
        var transition = Assert.Single(host["transitions"]!.AsArray())!.AsObject();
        ExpectFields(transition, ["at", "epoch", "from", "to", "reason"], $"host {agent.HostId} transition");
        Assert.Equal(1, Int(transition, "epoch"));
        Assert.Equal("none", Text(transition, "from"));
        Assert.Equal("pending", Text(transition, "to"));
        Assert.Null(transition["reason"]);
        Assert.Equal(Text(requested, "requested_at"), Text(transition, "at"));
    }

    [Fact]
    public async Task Get_AfterResults_UpdatesVitalsAndDetailTime()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var enrolled = await http.GetHostAsync(agent.HostId);
        (await http.RefetchAsync(agent.HostId)).Dispose();
        await agent.CheckInAsync();

        var host = await http.GetHostAsync(agent.HostId);

        Assert.Equal("4.6.0", Text(enrolled["details"], "osquery_version"));
        Assert.Equal("4.1.2", Text(host["details"], "osquery_version"));
        Assert.Equal("macOS", Text(host["details"], "os_name"));
        Assert.Equal(16691, Int(host["details"], "uptime_seconds"));
        Assert.NotNull(host["detail_updated_at"]);
        Assert.Equal(Text(enrolled, "enrolled_at"), Text(host, "enrolled_at"));
    }

    [Fact]
    public async Task Get_AfterManyRefetches_KeepsOnlyTheLatestFiftyTransitions()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();

        // Each refetch adds three transitions (to pending, verifying, verified): 17 of them add 51.
        for (var epoch = 1; epoch <= 17; epoch++)
        {
            (await http.RefetchAsync(agent.HostId)).Dispose();
            Assert.True(await agent.CheckInAsync() > 0, $"host {agent.HostId}: no queries handed out for epoch {epoch}");
        }

        var host = await http.GetHostAsync(agent.HostId);

        var transitions = host["transitions"]!.AsArray();
        Assert.Equal(50, transitions.Count);
        var (first, last) = (transitions[0], transitions[^1]);
        Assert.True(
            Int(first, "epoch") == 1 && Text(first, "from") == "pending" && Text(first, "to") == "verifying",
            $"host {agent.HostId}: expected the oldest kept transition to be epoch 1 pending -> verifying, got {Show(first)}");
        Assert.True(
            Int(last, "epoch") == 17 && Text(last, "to") == "verified",
            $"host {agent.HostId}: expected the newest transition to be epoch 17 -> verified, got {Show(last)}");
    }

    [Fact]
    public async Task Get_WithObserverToken_Returns200()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs13);
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        var host = await http.GetHostAsync(agent.HostId);

        Assert.Equal(agent.HostId, Text(host, "host_id"));
        Assert.Equal("13.6.2", Text(host["details"], "os_version"));
    }

    [Fact]
    public async Task Get_WithLowerCaseHostId_ReturnsTheCanonicalHost()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.Ubuntu);
        using var http = fixture.OperatorClient();

        var host = await http.GetHostAsync(agent.HostId.ToLowerInvariant());

        Assert.Equal(agent.HostId, Text(host, "host_id"));
    }

    [Fact]
    public async Task Get_WhenHostUnknown_Returns404ProblemJson()
    {
        var hostId = TestHostIdentity.New().Uuid;
        using var http = fixture.OperatorClient();

        using var response = await http.GetAsync($"/api/v1/hosts/{hostId}", TestAborted);

        var context = $"GET unknown host {hostId}";
        var problem = await ExpectProblemAsync(response, HttpStatusCode.NotFound, "Unknown host", context);
        Assert.Contains(hostId, Text(problem, "detail"), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(HostRefetchApiTests.InvalidHostIds), MemberType = typeof(HostRefetchApiTests))]
    public async Task Get_WhenHostIdInvalid_Returns400ProblemJson(string rawId)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.GetAsync($"/api/v1/hosts/{rawId}", TestAborted);

        await ExpectInvalidParameterAsync(response, "host_id", $"GET host '{rawId}'");
    }

    [Theory]
    [InlineData("GET", "/api/v1/nothing-here")]
    [InlineData("GET", "/api/v1/hosts/00000000-0000-4000-8000-000000000001/nothing-here")]
    [InlineData("DELETE", "/api/v1/hosts/00000000-0000-4000-8000-000000000001")]
    public async Task Request_ToNoOperatorEndpoint_ReturnsProblemJson(string method, string path)
    {
        using var http = fixture.OperatorClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);

        using var response = await http.SendAsync(request, TestAborted);

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        Assert.True(
            response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed,
            $"{method} {path}: expected 404 or 405, got {(int)response.StatusCode}");
        Assert.True(mediaType == ProblemJson, $"{method} {path}: expected Content-Type {ProblemJson}, got '{mediaType}'");
    }

    [Fact]
    public async Task Get_WithoutToken_Returns401ProblemJsonWithBearerChallenge()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync($"/api/v1/hosts/{agent.HostId}", TestAborted);

        await ExpectUnauthorizedAsync(response, $"anonymous GET host {agent.HostId}");
    }

    [Fact]
    public async Task Get_WithWrongToken_Returns401ProblemJson()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient("wrong-token-0123456789abcdef");

        using var response = await http.GetAsync($"/api/v1/hosts/{agent.HostId}", TestAborted);

        await ExpectUnauthorizedAsync(response, $"GET host {agent.HostId} with a wrong token");
    }
}
