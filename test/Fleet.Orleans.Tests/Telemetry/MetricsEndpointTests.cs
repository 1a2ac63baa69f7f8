using System.Net;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Telemetry;

/// <summary>The in-process Api's <c>/metrics</c>: open to an anonymous scraper, in Prometheus text.</summary>
public sealed class MetricsEndpointTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Metrics_WithoutToken_AnswersPrometheusTextWithTheAgentRequestSeries()
    {
        using var agents = fixture.AgentClient();
        using var refused = await agents.PostJsonAsync("/api/osquery/log", """{"node_key":"not-a-node-key"}""");

        using var response = await agents.GetAsync("/metrics", TestAborted);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var samples = PrometheusText.Parse(await response.Content.ReadAsStringAsync(TestAborted));
        var invalidLogs = samples.Value("fleet_api_agent_requests_total", "endpoint=log", "result=invalid");
        Assert.True(invalidLogs >= 1, $"/metrics: fleet_api_agent_requests_total{{endpoint=log,result=invalid}} is {invalidLogs}");
    }
}
