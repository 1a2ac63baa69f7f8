using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Telemetry;

/// <summary>
/// The real silo and Api processes of a cluster of their own, with JSON console logs: after a refetch cycle
/// over HTTP, both <c>/metrics</c> endpoints show it and the silo's log has its transitions as JSON.
/// Processes of their own, because a meter is seen by every listener in a process and the shared test
/// cluster's hosts would move the same series.
/// </summary>
public sealed class ProcessTelemetryTests : IAsyncLifetime
{
    private const string Token = "telemetry-token-0123456789";
    private static readonly TimeSpan s_startLimit = TimeSpan.FromSeconds(60);

    private readonly string _clusterId = $"tel-{Guid.NewGuid():N}"[..20];
    private readonly int _siloHttpPort = FleetProcess.FreePort();
    private readonly int _apiPort = FleetProcess.FreePort();
    private FleetProcess? _silo;
    private FleetProcess? _api;
    private HttpClient _siloHttp = null!;
    private HttpClient _apiHttp = null!;

    public async ValueTask InitializeAsync()
    {
        _silo = FleetProcess.Start("Silo", "Fleet.Orleans.Silo", new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{_siloHttpPort}",
            ["ConnectionStrings__FleetStorage"] = TestStorage.ConnectionString,
            ["Fleet__Silo__ClusterId"] = _clusterId,
            ["Fleet__Silo__ServiceId"] = _clusterId,
            ["Fleet__Silo__SiloPort"] = FleetProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Fleet__Silo__GatewayPort"] = FleetProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Fleet__Refetch__ReminderPeriod"] = "00:00:02",
            ["Fleet__Refetch__Policies__linux__PickupTimeout"] = "00:00:02",
            ["Fleet__Refetch__Policies__linux__ResultsTimeout"] = "00:00:02",
            ["Fleet__Refetch__Policies__linux__MaxAttempts"] = "2",
            ["Fleet__Refetch__Policies__linux__RetryBackoff"] = "00:00:00.500",
            ["Fleet__Refetch__Policies__linux__MaxRetryBackoff"] = "00:00:01",
            ["Logging__Console__FormatterName"] = "json",
        });
        _siloHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_siloHttpPort}") };
        await WaitUntilAnswersAsync(_silo, _siloHttp, "/healthz", "silo");

        _api = FleetProcess.Start("Api", "Fleet.Orleans.Api", new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{_apiPort}",
            ["ConnectionStrings__FleetStorage"] = TestStorage.ConnectionString,
            ["Fleet__Cluster__ClusterId"] = _clusterId,
            ["Fleet__Cluster__ServiceId"] = _clusterId,
            ["Fleet__Api__Tokens__0__Name"] = "maintainer",
            ["Fleet__Api__Tokens__0__Token"] = Token,
            ["Fleet__Api__Tokens__0__Role"] = "maintainer",
            ["Fleet__Agents__EnrollSecrets__0"] = ApiFactory.EnrollSecret,
            ["Fleet__Metrics__HostCountsRefreshPeriod"] = "00:00:01",
            ["Logging__Console__FormatterName"] = "json",
        });
        _apiHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_apiPort}") };
        await WaitUntilAnswersAsync(_api, _apiHttp, "/readyz", "Api");
    }

    public async ValueTask DisposeAsync()
    {
        _siloHttp?.Dispose();
        _apiHttp?.Dispose();
        if (_api is not null)
        {
            await _api.DisposeAsync();
        }

        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }
    }

    [Fact]
    public async Task RefetchCycleOverHttp_ShowsInBothMetricsEndpoints_AndAsJsonLogLines()
    {
        var verified = await TestAgent.EnrollAsync(_apiHttp, AgentProfile.Ubuntu);
        var silent = await TestAgent.EnrollAsync(_apiHttp, AgentProfile.Ubuntu);
        var siloBefore = await ScrapeAsync(_siloHttp);
        var apiBefore = await ScrapeAsync(_apiHttp);
        using var operators = new HttpClient { BaseAddress = _apiHttp.BaseAddress };
        operators.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        Assert.Equal(HttpStatusCode.Accepted, (await operators.RefetchAsync(verified.HostId)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await operators.RefetchAsync(silent.HostId)).StatusCode);
        var answered = await verified.CheckInAsync();
        Assert.True(answered > 0, $"host {verified.HostId}: its refetch handed out no detail queries");
        await ExpectNodeInvalidAsync(
            await _apiHttp.PostJsonAsync("/api/osquery/config", JsonSerializer.Serialize(new { node_key = NodeKeys.Compose(verified.HostId, "wrong") })),
            $"config of {verified.HostId} with a wrong node key");
        await operators.WaitForRefetchStatusAsync(verified.HostId, "verified", TimeSpan.FromSeconds(5));
        await operators.WaitForRefetchStatusAsync(silent.HostId, "failed", TimeSpan.FromSeconds(20));

        var silo = await ScrapeAsync(_siloHttp);
        var api = await ScrapeAsync(_apiHttp);
        ExpectSiloSeries(siloBefore, silo);
        ExpectApiSeries(apiBefore, api);
        await ExpectHostGaugeAsync(verified: 1, failed: 1);
        ExpectJsonTransitionLines(verified.HostId, ("none", "pending"), ("pending", "verifying"), ("verifying", "verified"));
        ExpectJsonTransitionLines(silent.HostId, ("none", "pending"), ("pending", "pending"), ("pending", "failed"));
        ExpectOnlyJsonLines(_api!, "Api");
    }

    private static void ExpectSiloSeries(IReadOnlyList<PrometheusSample> before, IReadOnlyList<PrometheusSample> after)
    {
        const string transitions = "fleet_refetch_transitions_total";
        ExpectIncrease(before, after, 2, transitions, "from=none", "to=pending", "platform=linux", "reason_class=none");
        ExpectIncrease(before, after, 1, transitions, "from=pending", "to=verifying", "platform=linux", "reason_class=none");
        ExpectIncrease(before, after, 1, transitions, "from=verifying", "to=verified", "platform=linux", "reason_class=none");
        ExpectIncrease(before, after, 1, transitions, "from=pending", "to=pending", "platform=linux", "reason_class=agent");
        ExpectIncrease(before, after, 1, transitions, "from=pending", "to=failed", "platform=linux", "reason_class=agent");
        ExpectIncrease(before, after, 1, "fleet_refetch_retries_total", "part=osquery", "platform=linux");
        ExpectIncrease(before, after, 2, "fleet_refetch_deadlines_expired_total");
        ExpectIncrease(before, after, 1, "fleet_refetch_time_to_verified_seconds_count", "platform=linux", "policy=linux");
        ExpectIncrease(before, after, 1, "fleet_refetch_time_to_verified_seconds_bucket", "platform=linux", "policy=linux", "le=+Inf");
        ExpectIncrease(before, after, 1, "fleet_agent_checkins_total", "endpoint=distributed_read");
        ExpectIncrease(before, after, 1, "fleet_agent_checkins_total", "endpoint=distributed_write");
        var writes = after.Value("fleet_storage_writes_total", "kind=grain_state") - before.Value("fleet_storage_writes_total", "kind=grain_state");
        Assert.True(writes >= 4, $"silo: grain-state writes rose by {writes}; two requests and two endings write at least 4");
        ExpectPresent(after, "silo", "orleans_");
        ExpectPresent(after, "silo", "dotnet_gc_");
    }

    private static void ExpectApiSeries(IReadOnlyList<PrometheusSample> before, IReadOnlyList<PrometheusSample> after)
    {
        const string requests = "fleet_api_agent_requests_total";
        ExpectIncrease(before, after, 1, requests, "endpoint=distributed_read", "result=ok");
        ExpectIncrease(before, after, 1, requests, "endpoint=distributed_write", "result=ok");
        ExpectIncrease(before, after, 1, requests, "endpoint=config", "result=invalid");
        ExpectIncrease(
            before, after, 2, "http_server_request_duration_seconds_count",
            "http_route=/api/v1/hosts/{host_id}/refetch", "http_response_status_code=202");
        ExpectPresent(after, "Api", "orleans_");
    }

    private async Task ExpectHostGaugeAsync(int verified, int failed)
    {
        var expected = new Dictionary<string, double>
        {
            ["none"] = 0, ["pending"] = 0, ["verifying"] = 0, ["verified"] = verified, ["failed"] = failed,
        };
        await EventuallyAsync(
            () => ScrapeAsync(_apiHttp),
            samples => expected.All(e => samples.Any(s => s.Name == "fleet_hosts" && s.Labels.GetValueOrDefault("status") == e.Key && s.Value == e.Value)),
            $"Api: fleet_hosts {string.Join(", ", expected.Select(e => $"{e.Key}={e.Value}"))}",
            describe: samples => string.Join(", ", samples.Where(s => s.Name == "fleet_hosts").Select(s => $"{s.Labels.GetValueOrDefault("status")}={s.Value}")));
    }

    private void ExpectJsonTransitionLines(string hostId, params (string From, string To)[] expected)
    {
        var seen = JsonLines(_silo!)
            .Where(line => line.TryGetProperty("EventId", out var id) && id.GetInt32() == 100)
            .Select(line => line.GetProperty("State"))
            .Where(state => state.GetProperty("HostId").GetString() == hostId)
            .ToList();

        Assert.True(
            seen.Count == expected.Length,
            $"silo log: {seen.Count} transition lines for host {hostId}, expected {expected.Length}");
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(1, seen[i].GetProperty("Epoch").GetInt32());
            Assert.Equal(expected[i].From, seen[i].GetProperty("From").GetString());
            Assert.Equal(expected[i].To, seen[i].GetProperty("To").GetString());
            Assert.True(seen[i].TryGetProperty("ReasonCode", out _), $"silo log: transition {i} of {hostId} has no ReasonCode");
        }

        ExpectOnlyJsonLines(_silo!, "silo");
    }

    private static void ExpectOnlyJsonLines(FleetProcess process, string name)
    {
        var lines = process.Output.Where(line => line.Length > 0).ToList();
        var notJson = lines.Where(line => !IsJsonObject(line)).ToList();

        Assert.NotEmpty(lines);
        Assert.True(notJson.Count == 0, $"{name}: {notJson.Count} output lines are not JSON, first: {notJson.FirstOrDefault()}");
    }

    private static List<JsonElement> JsonLines(FleetProcess process) =>
        [.. process.Output.Where(IsJsonObject).Select(line => JsonDocument.Parse(line).RootElement)];

    private static bool IsJsonObject(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);

            return document.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void ExpectIncrease(
        IReadOnlyList<PrometheusSample> before, IReadOnlyList<PrometheusSample> after, double by, string name, params string[] labels)
    {
        var was = before.Value(name, labels);
        var now = after.Value(name, labels);

        Assert.True(now - was == by, $"{name}{{{string.Join(",", labels)}}} rose from {was} to {now}, expected by {by}");
    }

    private static void ExpectPresent(IReadOnlyList<PrometheusSample> samples, string process, string prefix) =>
        Assert.True(samples.Any(s => s.Name.StartsWith(prefix, StringComparison.Ordinal)), $"{process}: no series named {prefix}*");

    private static async Task<IReadOnlyList<PrometheusSample>> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/metrics", TestAborted);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        return PrometheusText.Parse(await response.Content.ReadAsStringAsync(TestAborted));
    }

    private static async Task WaitUntilAnswersAsync(FleetProcess process, HttpClient http, string path, string name) =>
        await EventuallyAsync(
            async () =>
            {
                Assert.False(process.HasExited, $"{name} exited: {string.Join(Environment.NewLine, process.Output)}");
                try
                {
                    using var response = await http.GetAsync(path, TestAborted);

                    return response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    return (HttpStatusCode?)null;
                }
            },
            status => status == HttpStatusCode.OK,
            $"{name} answering {path}",
            s_startLimit,
            _ => string.Join(Environment.NewLine, process.Output.TakeLast(20)));
}
