using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>POST /api/v1/hosts/{id}/refetch through the real Api: the view, idempotence, bad ids and auth.</summary>
public sealed class HostRefetchApiTests(ClusterFixture fixture)
{
    private static readonly string[] s_viewFields =
        ["host_id", "epoch", "status", "requested_at", "deadline", "attempt", "max_attempts", "reason", "completed_at"];

    public static TheoryData<string> InvalidHostIds =>
        ["..%2F..%2Fetc", new string('A', 100), "abc", "AB_CD-1234", "%20%20%20"];

    [Fact]
    public async Task Refetch_WhenHostEnrolled_Returns202WithPendingViewAndLocation()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();

        using var response = await http.RefetchAsync(agent.HostId);

        var view = await ExpectStatusAsync(response, HttpStatusCode.Accepted, $"refetch of host {agent.HostId}");
        var missing = s_viewFields.Where(f => !view.ContainsKey(f)).ToList();
        Assert.True(missing.Count == 0, $"host {agent.HostId}: view lacks {string.Join(", ", missing)}: {Show(view)}");
        Assert.Equal($"/api/v1/hosts/{agent.HostId}", response.Headers.Location?.OriginalString);
        Assert.Equal(agent.HostId, Text(view, "host_id"));
        Assert.Equal("pending", Text(view, "status"));
        Assert.Equal(1, Int(view, "epoch"));
        Assert.Equal(1, Int(view, "attempt"));
        Assert.True(Int(view, "max_attempts") >= 1, $"host {agent.HostId}: max_attempts {Show(view["max_attempts"])}");
        Assert.Null(view["reason"]);
        Assert.Null(view["completed_at"]);
        var requestedAt = view["requested_at"]!.GetValue<DateTimeOffset>();
        var deadline = view["deadline"]!.GetValue<DateTimeOffset>();
        Assert.True(
            deadline > requestedAt,
            $"host {agent.HostId}: deadline {deadline:O} is not after requested_at {requestedAt:O}");
    }

    [Fact]
    public async Task Refetch_RepeatedWhileInFlight_ReturnsSameEpochAndDeadline()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        using var firstResponse = await http.RefetchAsync(agent.HostId);
        var first = await ExpectStatusAsync(firstResponse, HttpStatusCode.Accepted, $"first refetch of {agent.HostId}");

        using var secondResponse = await http.RefetchAsync(agent.HostId);

        var second = await ExpectStatusAsync(secondResponse, HttpStatusCode.Accepted, $"second refetch of {agent.HostId}");
        Assert.Equal(Int(first, "epoch"), Int(second, "epoch"));
        Assert.Equal(Text(first, "deadline"), Text(second, "deadline"));
        Assert.Equal(Text(first, "requested_at"), Text(second, "requested_at"));
    }

    [Fact]
    public async Task Refetch_TwoRequestsAtOnce_BothReturn202WithOneEpoch()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();

        var responses = await Task.WhenAll(http.RefetchAsync(agent.HostId), http.RefetchAsync(agent.HostId));

        var views = new List<JsonObject>();
        foreach (var response in responses)
        {
            using (response)
            {
                var context = $"concurrent refetch of host {agent.HostId}";
                views.Add(await ExpectStatusAsync(response, HttpStatusCode.Accepted, context));
            }
        }

        Assert.True(
            Int(views[0], "epoch") == 1 && Int(views[1], "epoch") == 1,
            $"host {agent.HostId}: expected epoch 1 twice, got {Int(views[0], "epoch")} and {Int(views[1], "epoch")}");
        Assert.Equal(Text(views[0], "deadline"), Text(views[1], "deadline"));
        var host = await http.GetHostAsync(agent.HostId);
        Assert.Single(host["transitions"]!.AsArray());
    }

    [Fact]
    public async Task Refetch_AfterVerified_StartsTheNextEpoch()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        (await http.RefetchAsync(agent.HostId)).Dispose();
        Assert.True(await agent.CheckInAsync() > 0, $"host {agent.HostId}: no queries handed out for epoch 1");

        using var response = await http.RefetchAsync(agent.HostId);

        var view = await ExpectStatusAsync(response, HttpStatusCode.Accepted, $"refetch of verified host {agent.HostId}");
        Assert.Equal(2, Int(view, "epoch"));
        Assert.Equal("pending", Text(view, "status"));
        Assert.Null(view["completed_at"]);
    }

    [Fact]
    public async Task Refetch_WithLowerCaseHostId_ActsOnTheCanonicalHost()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();

        using var response = await http.RefetchAsync(agent.HostId.ToLowerInvariant());

        var view = await ExpectStatusAsync(response, HttpStatusCode.Accepted, $"lower-case refetch of {agent.HostId}");
        Assert.Equal(agent.HostId, Text(view, "host_id"));
        Assert.Equal($"/api/v1/hosts/{agent.HostId}", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Refetch_WhenHostUnknown_Returns404ProblemJson()
    {
        var hostId = TestHostIdentity.New().Uuid;
        using var http = fixture.OperatorClient();

        using var response = await http.RefetchAsync(hostId);

        var context = $"refetch of unknown host {hostId}";
        var problem = await ExpectProblemAsync(response, HttpStatusCode.NotFound, "Unknown host", context);
        Assert.Contains(hostId, Text(problem, "detail"), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidHostIds))]
    public async Task Refetch_WhenHostIdInvalid_Returns400ProblemJson(string rawId)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.RefetchAsync(rawId);

        await ExpectInvalidParameterAsync(response, "host_id", $"refetch of '{rawId}'");
    }

    [Fact]
    public async Task Refetch_WithoutToken_Returns401ProblemJsonWithBearerChallenge()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.AgentClient();

        using var response = await http.RefetchAsync(agent.HostId);

        await ExpectUnauthorizedAsync(response, $"anonymous refetch of host {agent.HostId}");
        await ExpectNoRefetchAsync(agent.HostId);
    }

    [Theory]
    [InlineData("Bearer not-a-token-anyone-was-given")]
    [InlineData("Basic bWFpbnRhaW5lcjpwYXNzd29yZA==")]
    [InlineData("Bearer ")]
    public async Task Refetch_WithWrongToken_Returns401ProblemJson(string authorization)
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.AgentClient();
        http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);

        using var response = await http.RefetchAsync(agent.HostId);

        await ExpectUnauthorizedAsync(response, $"refetch of host {agent.HostId} with '{authorization}'");
        await ExpectNoRefetchAsync(agent.HostId);
    }

    [Fact]
    public async Task Refetch_WithObserverToken_Returns403ProblemJson()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.RefetchAsync(agent.HostId);

        await ExpectProblemAsync(response, HttpStatusCode.Forbidden, "Forbidden", $"observer refetch of {agent.HostId}");
        await ExpectNoRefetchAsync(agent.HostId);
    }

    private async Task ExpectNoRefetchAsync(string hostId)
    {
        using var http = fixture.OperatorClient();
        var host = await http.GetHostAsync(hostId);

        Assert.True(host["refetch"] is null, $"host {hostId}: a refused request started a refetch: {Show(host["refetch"])}");
    }
}
