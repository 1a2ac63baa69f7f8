using System.Net;
using Fleet.Api.Hosting;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Resilience;

/// <summary>
/// An Api whose cluster has gone: every silo stopped under it. Operators and agents must get 503 with
/// <c>Retry-After</c> and a problem+json body that explains, never a 500 or a stack trace.
/// </summary>
public sealed class ClusterUnreachableTests : IAsyncLifetime
{
    private OwnCluster _own = null!;

    public async ValueTask InitializeAsync() => _own = await OwnCluster.StartAsync();

    public ValueTask DisposeAsync() => _own.DisposeAsync();

    [Fact]
    public async Task EverySiloStopped_OperatorReadAndAgentCheckIn_Answer503WithRetryAfter()
    {
        var agent = await TestAgent.EnrollAsync(_own.Api.CreateClient(), AgentProfile.Ubuntu);
        var operators = _own.Api.CreateOperatorClient();
        await operators.GetHostAsync(agent.HostId);

        await _own.Cluster.StopAllSilosAsync(ApiTestKit.TestAborted);

        using var read = await operators.GetAsync($"/api/v1/hosts/{agent.HostId}", ApiTestKit.TestAborted);
        await ExpectUnavailableAsync(read, $"GET host {agent.HostId} with no silo");
        using var config = await agent.PostAsync("/api/osquery/config", agent.NodeKeyBody());
        await ExpectUnavailableAsync(config, $"agent config of {agent.HostId} with no silo");
        using var checkIn = await agent.PostAsync("/api/osquery/distributed/read", agent.NodeKeyBody());
        await ExpectUnavailableAsync(checkIn, $"agent distributed/read of {agent.HostId} with no silo");
    }

    private static async Task ExpectUnavailableAsync(HttpResponseMessage response, string context)
    {
        var body = await ApiTestKit.ExpectProblemAsync(
            response, HttpStatusCode.ServiceUnavailable, "Service temporarily unavailable", context);
        var retryAfter = response.Headers.RetryAfter?.Delta;

        Assert.True(
            retryAfter == TimeSpan.FromSeconds(ClusterUnavailableHandler.RetryAfterSeconds),
            $"{context}: expected Retry-After {ClusterUnavailableHandler.RetryAfterSeconds}, got '{response.Headers.RetryAfter}'");
        var text = body.ToJsonString();
        Assert.False(
            text.Contains(" at ", StringComparison.Ordinal) || text.Contains("Exception", StringComparison.Ordinal),
            $"{context}: body shows an exception or a stack: {text}");
    }
}
