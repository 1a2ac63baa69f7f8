using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Fleet.Api.Hosting;
using Fleet.Telemetry;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.TestingHost;

namespace Fleet.Tests.Resilience;

/// <summary>
/// Table storage goes away under a running cluster and comes back with its data (an Azurite of the test's own,
/// stopped by its process id and started again on the same ports and folder). Nothing the Api acknowledged may
/// be lost, nothing may be acknowledged while storage is down, deadlines that passed meanwhile must fire once it
/// returns, and both readiness endpoints must say what is wrong and then that it is fixed.
/// </summary>
public sealed class StorageOutageTests : IAsyncLifetime
{
    private static readonly TimeSpan s_recoveryLimit = TimeSpan.FromSeconds(45);

    private readonly OwnAzurite _storage = new(10203, 10204, 10205);
    private OwnCluster _own = null!;
    private WebApplicationFactory<Program> _api = null!;

    public async ValueTask InitializeAsync()
    {
        await _storage.StartAsync();
        _own = await OwnCluster.StartAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:FleetStorage"] = _storage.ConnectionString,
            ["Fleet:Refetch:ReminderPeriod"] = "00:00:01",
            ["Fleet:Refetch:Policies:linux:MaxAttempts"] = "1",
        });

        // The Api's own storage client (readiness) must see the same outage as the silo.
        _api = _own.Api.WithWebHostBuilder(web => web.UseSetting("ConnectionStrings:FleetStorage", _storage.ConnectionString));
    }

    public async ValueTask DisposeAsync()
    {
        await _api.DisposeAsync();
        await _own.DisposeAsync();
        _storage.Dispose();
    }

    [Fact]
    public async Task StorageDown_RefusesNewWork_KeepsAcceptedWork_AndFiresMissedDeadlinesWhenBack()
    {
        var output = TestContext.Current.TestOutputHelper;
        var operators = _api.CreateClient();
        operators.DefaultRequestHeaders.Authorization = new("Bearer", ApiFactory.MaintainerToken);
        var silent = await TestAgent.EnrollAsync(_api.CreateClient(), AgentProfile.Ubuntu);
        var waiting = await TestAgent.EnrollAsync(_api.CreateClient(), AgentProfile.MacOs15);
        var refused = await TestAgent.EnrollAsync(_api.CreateClient(), AgentProfile.Ubuntu);
        var silentRefetch = await RefetchAsync(operators, silent.HostId);
        var waitingRefetch = await RefetchAsync(operators, waiting.HostId);
        await ExpectReadyAsync(operators, ready: true, "before the outage");

        var clock = Stopwatch.StartNew();
        await _storage.StopAsync();
        await ExpectReadyAsync(operators, ready: false, "during the outage");
        output?.WriteLine($"Api and silo readiness reported the outage {clock.Elapsed.TotalSeconds:F1} s after storage stopped");

        using (var attempt = await operators.RefetchAsync(refused.HostId))
        {
            var body = await ApiTestKit.ExpectProblemAsync(
                attempt, HttpStatusCode.ServiceUnavailable, "Service temporarily unavailable", $"refetch of {refused.HostId} with storage down");
            Assert.True(attempt.Headers.RetryAfter?.Delta == TimeSpan.FromSeconds(ClusterUnavailableHandler.RetryAfterSeconds),
                $"refetch with storage down: expected Retry-After, got '{attempt.Headers.RetryAfter}' ({body})");
        }

        output?.WriteLine($"a refetch asked for with storage down was refused {clock.Elapsed.TotalSeconds:F1} s after the stop");

        // Stay down past the silent host's deadline, so only a wake-up after the outage can fail it.
        var deadline = DateTimeOffset.Parse(ApiTestKit.Text(silentRefetch, "deadline")!, System.Globalization.CultureInfo.InvariantCulture);
        var downFor = deadline - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2);
        if (downFor > TimeSpan.Zero)
        {
            await Task.Delay(downFor, ApiTestKit.TestAborted);
        }

        await _storage.StartAsync();
        var back = clock.Elapsed;
        await ExpectReadyAsync(operators, ready: true, "after the outage");
        output?.WriteLine($"storage was down {back.TotalSeconds:F1} s; readiness was back {(clock.Elapsed - back).TotalSeconds:F1} s after it returned");

        var failed = await operators.WaitForRefetchStatusAsync(silent.HostId, "failed", s_recoveryLimit);
        output?.WriteLine($"the deadline missed during the outage fired {(clock.Elapsed - back).TotalSeconds:F1} s after storage returned");
        Assert.Equal(ApiTestKit.Int(silentRefetch, "epoch"), ApiTestKit.Int(failed["refetch"], "epoch"));
        var kept = await operators.GetHostAsync(waiting.HostId);
        ApiTestKit.ExpectTexts(kept["refetch"], new Dictionary<string, string?> { ["status"] = "pending" }, $"host {waiting.HostId} after the outage");
        Assert.Equal(ApiTestKit.Int(waitingRefetch, "epoch"), ApiTestKit.Int(kept["refetch"], "epoch"));
        var untouched = await operators.GetHostAsync(refused.HostId);
        Assert.True(
            untouched["refetch"] is null,
            $"host {refused.HostId}: the refetch refused during the outage shows anyway: {untouched["refetch"]?.ToJsonString()}");
        var accepted = await RefetchAsync(operators, refused.HostId);
        Assert.Equal("pending", ApiTestKit.Text(accepted, "status"));
    }

    private static async Task<JsonObject> RefetchAsync(HttpClient operators, string hostId)
    {
        using var response = await operators.RefetchAsync(hostId);

        return await ApiTestKit.ExpectStatusAsync(response, HttpStatusCode.Accepted, $"refetch of {hostId}");
    }

    /// <summary>Waits until the Api's <c>/readyz</c> and the silo's readiness checks agree that storage is (or is not) reachable.</summary>
    private async Task ExpectReadyAsync(HttpClient http, bool ready, string when)
    {
        var silo = Assert.IsType<InProcessSiloHandle>(_own.Cluster.Silos[0]).SiloHost.Services.GetRequiredService<HealthCheckService>();
        await ApiTestKit.EventuallyAsync(
            async () =>
            {
                using var response = await http.GetAsync("/readyz", ApiTestKit.TestAborted);
                var api = JsonNode.Parse(await response.Content.ReadAsStringAsync(ApiTestKit.TestAborted))!;
                var report = await silo.CheckHealthAsync(c => c.Tags.Contains(FleetReadiness.Tag), ApiTestKit.TestAborted);

                return (Status: response.StatusCode, Api: api, Silo: report.Entries["storage"]);
            },
            seen => ready
                ? seen.Status == HttpStatusCode.OK && seen.Silo.Status == HealthStatus.Healthy
                : seen.Status == HttpStatusCode.ServiceUnavailable
                  && ApiTestKit.Text(seen.Api["checks"]?["storage"], "status") == "failing"
                  && ApiTestKit.Text(seen.Api["checks"]?["storage"], "detail")!.StartsWith("table storage unreachable", StringComparison.Ordinal)
                  && seen.Silo.Status == HealthStatus.Unhealthy,
            $"readiness {(ready ? "ready" : "reporting storage down")} {when}",
            s_recoveryLimit,
            seen => $"Api {(int)seen.Status} {seen.Api.ToJsonString()}, silo storage {seen.Silo.Status}: {seen.Silo.Description}");
    }
}
