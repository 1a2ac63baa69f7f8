using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Contracts;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Security;

/// <summary>
/// Operator POSTs and PUTs with an <c>Idempotency-Key</c>: a retry gets the first answer again (status, Location,
/// body) marked <c>Idempotent-Replayed</c>, and runs nothing; a key reused for another request is 422; a bad key 400.
/// </summary>
public sealed class IdempotencyKeyApiTests(ClusterFixture fixture)
{
    /// <summary>Every start makes a new job id, so a retry that ran would answer another id; one without a key does.</summary>
    [Fact]
    public async Task RefetchJob_RetriedWithTheSameKey_ReplaysTheFirstAnswer_AndStartsNoSecondJob()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var key = NewKey();
        var body = $"{{\"host_ids\": [\"{agent.HostId}\"], \"rate\": 10}}";

        using var first = await SendAsync(http, HttpMethod.Post, "/api/v1/refetch_jobs", body, key);
        var firstBody = await first.Content.ReadAsStringAsync(TestAborted);
        using var retry = await SendAsync(http, HttpMethod.Post, "/api/v1/refetch_jobs", body, key);
        var retryBody = await retry.Content.ReadAsStringAsync(TestAborted);
        using var unkeyed = await SendAsync(http, HttpMethod.Post, "/api/v1/refetch_jobs", body, key: null);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.False(first.Headers.Contains(IdempotencyKeys.ReplayedHeader), "the first answer is not a replay");
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(["true"], retry.Headers.GetValues(IdempotencyKeys.ReplayedHeader));
        Assert.NotNull(first.Headers.Location);
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(firstBody, retryBody);
        Assert.Equal(first.Content.Headers.ContentType?.MediaType, retry.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Accepted, unkeyed.StatusCode);
        Assert.NotEqual(first.Headers.Location, unkeyed.Headers.Location);
    }

    [Fact]
    public async Task HostRefetch_RetriedWithTheSameKey_ReplaysTheFirstAnswer()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var key = NewKey();

        using var first = await SendAsync(http, HttpMethod.Post, $"/api/v1/hosts/{agent.HostId}/refetch", body: null, key);
        using var retry = await SendAsync(http, HttpMethod.Post, $"/api/v1/hosts/{agent.HostId}/refetch", body: null, key);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.True(retry.Headers.Contains(IdempotencyKeys.ReplayedHeader), $"host {agent.HostId}: the retry was not a replay");
        Assert.Equal(await first.Content.ReadAsStringAsync(TestAborted), await retry.Content.ReadAsStringAsync(TestAborted));
    }

    [Fact]
    public async Task ProfilePut_RetriedWithTheSameKey_ReplaysAndAnErrorAnswerIsReplayedToo()
    {
        using var http = fixture.OperatorClient();
        var team = "idem-" + Guid.NewGuid().ToString("N")[..12];
        var path = $"/api/v1/configuration_profiles/com.example.idem?team_id={team}";
        const string body = "{\"display_name\": \"Idem\", \"checksum\": \"c1\"}";
        var key = NewKey();
        var badKey = NewKey();

        using var first = await SendAsync(http, HttpMethod.Put, path, body, key);
        using var retry = await SendAsync(http, HttpMethod.Put, path, body, key);
        using var invalid = await SendAsync(http, HttpMethod.Put, path, "{\"display_name\": \"\"}", badKey);
        using var invalidRetry = await SendAsync(http, HttpMethod.Put, path, "{\"display_name\": \"\"}", badKey);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.True(retry.Headers.Contains(IdempotencyKeys.ReplayedHeader), $"team {team}: the retry was not a replay");
        Assert.Equal(await first.Content.ReadAsStringAsync(TestAborted), await retry.Content.ReadAsStringAsync(TestAborted));
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, invalidRetry.StatusCode);
        Assert.True(invalidRetry.Headers.Contains(IdempotencyKeys.ReplayedHeader), $"team {team}: the refused retry was not a replay");
        Assert.Equal(ProblemJson, invalidRetry.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task SameKey_WithADifferentBodyOrPath_Is422Problem_AndRunsNothing()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        var other = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var key = NewKey();

        using var first = await SendAsync(http, HttpMethod.Post, $"/api/v1/hosts/{agent.HostId}/refetch", body: null, key);
        using var otherPath = await SendAsync(http, HttpMethod.Post, $"/api/v1/hosts/{other.HostId}/refetch", body: null, key);
        using var otherBody = await SendAsync(http, HttpMethod.Post, $"/api/v1/hosts/{agent.HostId}/refetch", "{}", key);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        await ExpectProblemAsync(otherPath, HttpStatusCode.UnprocessableEntity, "Idempotency-Key reused", "same key, another host");
        await ExpectProblemAsync(otherBody, HttpStatusCode.UnprocessableEntity, "Idempotency-Key reused", "same key, another body");
        var untouched = await http.GetHostAsync(other.HostId);
        Assert.True(untouched["refetch"] is null, $"host {other.HostId}: refused request refetched it: {Show(untouched["refetch"])}");
    }

    [Theory]
    [InlineData("delete\u007f")]
    [InlineData("tab\tinside")]
    [InlineData("ünicode")]
    [InlineData("256")]
    public async Task InvalidKey_Is400Problem_NamingTheHeader(string key)
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var sent = key == "256" ? new string('k', 256) : key;

        using var response = await SendAsync(http, HttpMethod.Post, $"/api/v1/hosts/{agent.HostId}/refetch", body: null, sent);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid request", $"Idempotency-Key '{key}'");
        Assert.Equal("Idempotency-Key must be one header of 1 to 255 printable ASCII characters.", Text(problem, "detail"));
        var host = await http.GetHostAsync(agent.HostId);
        Assert.True(host["refetch"] is null, $"host {agent.HostId}: a request with a bad key ran: {Show(host["refetch"])}");
    }

    [Fact]
    public async Task KeyOf255PrintableCharacters_IsAccepted()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var key = string.Concat(Enumerable.Range(0, 255).Select(i => (char)(' ' + 1 + (i % 94))));

        using var response = await SendAsync(http, HttpMethod.Post, $"/api/v1/hosts/{agent.HostId}/refetch", body: null, key);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public void GrainKey_DiffersByOperator_AndHoldsOnlyHexDigits()
    {
        var first = IdempotencyKeys.GrainKey("alice", "k/1#?");
        var second = IdempotencyKeys.GrainKey("bob", "k/1#?");

        Assert.NotEqual(first, second);
        Assert.Matches("^[0-9a-f]{64}$", first);
        Assert.NotEqual(IdempotencyKeys.GrainKey("a", "b\nc"), IdempotencyKeys.GrainKey("a\nb", "c"));
    }

    private static string NewKey() => $"test-{Guid.NewGuid():N}";

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string? body, string? key)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation(IdempotencyKeys.Header, key);
        }

        return http.SendAsync(request, TestAborted);
    }
}
