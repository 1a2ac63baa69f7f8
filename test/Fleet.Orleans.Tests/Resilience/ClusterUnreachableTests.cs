using System.Net;
using Fleet.Api.Hosting;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using Fleet.Tests.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Fleet.Tests.Resilience;

/// <summary>
/// An Api whose cluster has gone: every silo stopped under it. Operators and agents must get 503 with
/// <c>Retry-After</c> and a problem+json body that explains, never a 500 or a stack trace; the Api logs each refusal
/// once, as a warning without a stack (a silo kill refuses hundreds of requests).
/// </summary>
public sealed class ClusterUnreachableTests : IAsyncLifetime
{
    private OwnCluster _own = null!;

    public async ValueTask InitializeAsync() => _own = await OwnCluster.StartAsync();

    public ValueTask DisposeAsync() => _own.DisposeAsync();

    [Fact]
    public async Task EverySiloStopped_OperatorReadAndAgentCheckIn_Answer503WithRetryAfter()
    {
        var logs = new CapturedRecords();
        await using var api = _own.Api.WithWebHostBuilder(web => web.ConfigureLogging(logging => logging.AddProvider(logs)));
        var agent = await TestAgent.EnrollAsync(api.CreateClient(), AgentProfile.Ubuntu);
        var operators = api.CreateClient();
        operators.DefaultRequestHeaders.Authorization = new("Bearer", ApiFactory.MaintainerToken);
        await operators.GetHostAsync(agent.HostId);

        await _own.Cluster.StopAllSilosAsync(ApiTestKit.TestAborted);

        using var read = await operators.GetAsync($"/api/v1/hosts/{agent.HostId}", ApiTestKit.TestAborted);
        await ExpectUnavailableAsync(read, $"GET host {agent.HostId} with no silo");
        using var config = await agent.PostAsync("/api/osquery/config", agent.NodeKeyBody());
        await ExpectUnavailableAsync(config, $"agent config of {agent.HostId} with no silo");
        using var checkIn = await agent.PostAsync("/api/osquery/distributed/read", agent.NodeKeyBody());
        await ExpectUnavailableAsync(checkIn, $"agent distributed/read of {agent.HostId} with no silo");

        // One warning per refused request, without a stack; no error from the exception middleware on top.
        var records = logs.Records;
        var refused = records.Where(r => r.EventId == 300 && r.Category.EndsWith(nameof(ClusterUnavailableHandler), StringComparison.Ordinal)).ToList();
        Assert.True(
            refused.Count == 3 && refused.All(r => r.Level == LogLevel.Warning && !r.Values.Any(v => v.Contains("   at ", StringComparison.Ordinal))),
            "expected 3 warnings without a stack for the refused requests, got: " + string.Join(" | ", refused.Select(r => $"{r.Level} {r.Message}")));
        var errors = records.Where(r => r.Level >= LogLevel.Error && r.Category.StartsWith("Microsoft.AspNetCore.Diagnostics", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, "the exception middleware logged: " + string.Join(" | ", errors.Select(r => r.Message)));
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
