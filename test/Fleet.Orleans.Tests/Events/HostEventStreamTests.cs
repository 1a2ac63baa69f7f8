using System.Net;
using System.Text.Json.Nodes;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Events;

/// <summary>
/// <c>GET /api/v1/events</c> through the real Api on a test cluster: a refetch seen live, fleet-wide and per
/// host, Failed and Recovered alerts, keep-alives, auth, bad ids, and a subscription that outlives its lease.
/// </summary>
public sealed class HostEventStreamTests(EventsFixture fixture) : IClassFixture<EventsFixture>
{
    /// <summary>Room for a change to travel host grain, relay, hub, Api and stream.</summary>
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    /// <summary>A linux refetch nobody answers fails within two attempts of the shared test settings (about 5 s).</summary>
    private static readonly TimeSpan s_failWait = TimeSpan.FromSeconds(20);

    private static readonly string[] s_hostFields =
    [
        "host_id", "status", "platform", "os_version", "hostname", "serial", "last_seen_at", "status_changed_at", "reason",
        "team_id", "os_settings", "certificate_not_after", "identity",
    ];

    private readonly HttpClient _http = fixture.Client();
    private readonly HttpClient _maintainer = fixture.Client(ApiFactory.MaintainerToken);
    private readonly HttpClient _agents = fixture.Client(token: null);

    [Fact]
    public async Task Stream_ForOneHost_SendsReadyThenTheRefetchUpToVerified()
    {
        var agent = await TestAgent.EnrollAsync(_agents, AgentProfile.MacOs14);
        await using var stream = await SseClient.OpenAsync(_http, $"/api/v1/events?host_id={agent.HostId.ToLowerInvariant()}");
        await ExpectReadyAsync(stream, agent.HostId);

        (await _maintainer.RefetchAsync(agent.HostId)).Dispose();
        Assert.True(await agent.CheckInAsync() > 0, $"host {agent.HostId}: no queries handed out");

        var events = await stream.HostEventsUntilAsync(
            e => Text(e["host"], "status") == "verified", s_wait, $"host {agent.HostId} reaching verified");
        var transitions = events.SelectMany(e => e["transitions"]!.AsArray()).Select(t => t!).ToList();
        Assert.Equal(
            ["none>pending", "pending>verifying", "verifying>verified"],
            transitions.Select(t => $"{Text(t, "from")}>{Text(t, "to")}"));
        Assert.All(transitions, t => Assert.Equal(1, Int(t, "epoch")));
        var last = events[^1];
        ExpectFields(last["host"], s_hostFields, $"host {agent.HostId}: host of the verified event");
        ExpectFields(transitions[^1], ["at", "epoch", "from", "to", "reason"], $"host {agent.HostId}: verified transition");
        Assert.Equal(agent.HostId, Text(last["host"], "host_id"));
        Assert.Equal("none", Text(last, "alert"));
        var row = await EventuallyAsync(
            async () => (await _http.ListRowsAsync("limit=500")).SingleOrDefault(r => Text(r, "host_id") == agent.HostId),
            r => Text(r, "status") == "verified",
            $"host {agent.HostId} verified in the host list");
        Assert.True(
            JsonNode.DeepEquals(row, last["host"]),
            $"host {agent.HostId}: event host {Show(last["host"])} differs from list row {Show(row)}");
    }

    [Fact]
    public async Task Stream_FleetWide_SeesEachHostThatChanges()
    {
        await using var stream = await SseClient.OpenAsync(_http, "/api/v1/events");
        await ExpectReadyAsync(stream, hostId: null);
        var agent = await TestAgent.EnrollAsync(_agents, AgentProfile.MacOs15);

        (await _maintainer.RefetchAsync(agent.HostId)).Dispose();

        var events = await stream.HostEventsUntilAsync(
            e => Text(e["host"], "host_id") == agent.HostId && Text(e["host"], "status") == "pending",
            s_wait,
            $"fleet-wide stream seeing host {agent.HostId} pending");
        Assert.Equal("pending", Text(events[^1]["transitions"]![0], "to"));
    }

    [Fact]
    public async Task Stream_ForOneHost_CarriesNoOtherHost()
    {
        var followed = await TestAgent.EnrollAsync(_agents, AgentProfile.MacOs14);
        var other = await TestAgent.EnrollAsync(_agents, AgentProfile.MacOs14);
        await using var stream = await SseClient.OpenAsync(_http, $"/api/v1/events?host_id={followed.HostId}");
        await ExpectReadyAsync(stream, followed.HostId);

        // The other host changes first: had it leaked, its event would come before the followed host's.
        (await _maintainer.RefetchAsync(other.HostId)).Dispose();
        (await _maintainer.RefetchAsync(followed.HostId)).Dispose();

        var events = await stream.HostEventsUntilAsync(
            e => Text(e["host"], "status") == "pending", s_wait, $"host {followed.HostId} pending");
        Assert.All(events, e => Assert.Equal(followed.HostId, Text(e["host"], "host_id")));
    }

    [Fact]
    public async Task Stream_WhenSilentHostFailsAndLaterVerifies_AlertsFailedThenRecovered()
    {
        var agent = await TestAgent.EnrollAsync(_agents, AgentProfile.Ubuntu);
        await using var stream = await SseClient.OpenAsync(_http, $"/api/v1/events?host_id={agent.HostId}");
        await ExpectReadyAsync(stream, agent.HostId);

        (await _maintainer.RefetchAsync(agent.HostId)).Dispose();
        var failing = await stream.HostEventsUntilAsync(
            e => Text(e, "alert") != "none", s_failWait, $"silent host {agent.HostId} failing");
        (await _maintainer.RefetchAsync(agent.HostId)).Dispose();
        Assert.True(await agent.CheckInAsync() > 0, $"host {agent.HostId}: no queries handed out for epoch 2");
        var recovering = await stream.HostEventsUntilAsync(
            e => Text(e, "alert") != "none", s_wait, $"host {agent.HostId} recovering");

        var failed = failing[^1];
        Assert.Equal("failed", Text(failed, "alert"));
        Assert.Equal("failed", Text(failed["host"], "status"));
        Assert.False(
            string.IsNullOrEmpty(Text(failed["host"]!["reason"], "code")),
            $"host {agent.HostId}: failed without a reason: {Show(failed)}");
        Assert.Equal("failed", Text(failed["transitions"]!.AsArray()[^1], "to"));
        var recovered = recovering[^1];
        Assert.Equal("recovered", Text(recovered, "alert"));
        Assert.Equal("verified", Text(recovered["host"], "status"));
        var last = recovered["transitions"]!.AsArray()[^1];
        Assert.Equal("verified", Text(last, "to"));
        Assert.Equal(2, Int(last, "epoch"));
    }

    [Fact]
    public async Task Stream_WhenQuiet_SendsKeepAliveComments()
    {
        var hostId = TestHostIdentity.New().Uuid;
        await using var stream = await SseClient.OpenAsync(_http, $"/api/v1/events?host_id={hostId}");
        await ExpectReadyAsync(stream, hostId);

        var first = await stream.ReadAsync(EventsFixture.KeepAlive * 4, "first keep-alive");
        var second = await stream.ReadAsync(EventsFixture.KeepAlive * 4, "second keep-alive");

        Assert.Equal("keep-alive", first.Comment);
        Assert.Equal("keep-alive", second.Comment);
    }

    [Fact]
    public async Task Stream_AfterSeveralLeases_StillDeliversEvents()
    {
        var agent = await TestAgent.EnrollAsync(_agents, AgentProfile.MacOs14);
        await using var stream = await SseClient.OpenAsync(_http, $"/api/v1/events?host_id={agent.HostId}");
        await ExpectReadyAsync(stream, agent.HostId);
        var renewalsBefore = fixture.Feed.Subscriptions;

        // The hub's clock is the silo's real one: the subscription must be renewed to live through this.
        await Task.Delay(EventsFixture.Lease * 3, TestContext.Current.CancellationToken);
        (await _maintainer.RefetchAsync(agent.HostId)).Dispose();

        var events = await stream.HostEventsUntilAsync(
            e => Text(e["host"], "status") == "pending", s_wait, $"host {agent.HostId} pending after three leases");
        Assert.Equal(agent.HostId, Text(events[^1]["host"], "host_id"));
        var renewals = fixture.Feed.Subscriptions - renewalsBefore;
        Assert.True(renewals >= 6, $"expected at least 6 renewals in three leases of {EventsFixture.Lease}, saw {renewals}");
    }

    [Fact]
    public async Task Stream_WithoutToken_Returns401ProblemJson()
    {
        using var response = await _agents.GetAsync("/api/v1/events", HttpCompletionOption.ResponseHeadersRead, TestAborted);

        await ExpectUnauthorizedAsync(response, "anonymous GET /api/v1/events");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("..%2F..%2Fetc")]
    [InlineData("")]
    public async Task Stream_WithInvalidHostId_Returns400ProblemJson(string rawId)
    {
        using var response = await _http.GetAsync($"/api/v1/events?host_id={rawId}", HttpCompletionOption.ResponseHeadersRead, TestAborted);

        await ExpectInvalidParameterAsync(response, "host_id", $"GET /api/v1/events?host_id={rawId}");
    }

    private static async Task ExpectReadyAsync(SseClient stream, string? hostId)
    {
        var ready = await stream.NextEventAsync(s_wait, "ready");

        Assert.Equal("ready", ready.EventType);
        var json = ready.Json;
        Assert.True(json.ContainsKey("host_id"), $"ready lacks host_id: {ready.Data}");
        Assert.Equal(hostId, Text(json, "host_id"));
    }
}
