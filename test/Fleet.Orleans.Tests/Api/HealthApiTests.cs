using System.Net;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>The liveness and readiness probes, which orchestrators call without a token.</summary>
public sealed class HealthApiTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Healthz_WithoutToken_Returns200Alive()
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync("/healthz", TestAborted);

        var body = await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /healthz");
        Assert.Equal("alive", Text(body, "status"));
    }

    [Fact]
    public async Task Readyz_WithClusterAndStorageUp_Returns200WithBothChecksOk()
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync("/readyz", TestAborted);

        var body = await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /readyz");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("ready", Text(body, "status"));
        foreach (var check in new[] { "cluster", "storage" })
        {
            var status = Text(body["checks"]?[check], "status");
            Assert.True(status == "ok", $"/readyz: expected check {check} 'ok', got '{status}' in {Show(body)}");
        }
    }
}
