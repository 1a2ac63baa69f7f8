using System.Net;
using System.Text.Json;
using Fleet.Contracts;
using Fleet.Grains.Webhooks;

namespace Fleet.Tests.Webhooks;

/// <summary>
/// Host grains on a cluster whose silo sends webhooks to a receiver in the test: what arrives, signed, for
/// Failed and for recovery, and how refusals and errors are retried or given up.
/// </summary>
public sealed class WebhookDeliveryTests(WebhookClusterFixture fixture) : IClassFixture<WebhookClusterFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static readonly string[] s_required = ["os_version", "osquery_info", "system_info", "uptime"];

    // Windows hosts give up after one attempt with a 1 s pickup timeout (FleetTestCluster's settings).
    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_windows = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "windows", ["version"] = "10.0.22631", ["name"] = "Windows 11" },
        ["system_info"] = new Dictionary<string, string> { ["hostname"] = "webhook-test", ["hardware_serial"] = "WEBHOOK01" },
    };

    private static DetailResults Answers(Dictionary<string, int>? statuses = null) => new(
        s_required.ToDictionary(n => n, IReadOnlyList<IReadOnlyDictionary<string, string>> (n) => [new Dictionary<string, string> { ["version"] = "1" }]),
        statuses ?? s_required.ToDictionary(n => n, _ => 0),
        statuses is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["os_version"] = "no such table: os_version" });

    private async Task<(IHostGrain Host, string HostId, string Secret)> EnrollAsync()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var host = fixture.Grains.GetGrain<IHostGrain>(hostId);
        var nodeKey = (await host.EnrollAsync(new EnrollRequest(s_windows))).NodeKey;

        return (host, hostId, nodeKey[(nodeKey.IndexOf(':', StringComparison.Ordinal) + 1)..]);
    }

    /// <summary>One refetch that the agent answers with an error: Failed at once (one attempt on Windows).</summary>
    private static async Task FailByAgentErrorAsync(IHostGrain host, string secret)
    {
        await host.RequestRefetchAsync();
        await host.ReadAsync(secret);
        await host.WriteAsync(secret, Answers(new Dictionary<string, int> { ["os_version"] = 1, ["osquery_info"] = 0, ["system_info"] = 0, ["uptime"] = 0 }));
    }

    private static async Task VerifyAsync(IHostGrain host, string secret)
    {
        await host.RequestRefetchAsync();
        await host.ReadAsync(secret);
        await host.WriteAsync(secret, Answers());
    }

    [Fact]
    public async Task SilentHost_ReachingFailed_ThenRefetchedSuccessfully_DeliversSignedFailedThenRecovered()
    {
        await fixture.SettledAsync();
        var (host, hostId, secret) = await EnrollAsync();

        await host.RequestRefetchAsync();
        var failed = Assert.Single(await fixture.Receiver.WaitForAsync(hostId, 1, Wait));
        var failedView = (await host.GetAsync())!;
        await VerifyAsync(host, secret);
        var received = await fixture.Receiver.WaitForAsync(hostId, 2, Wait);
        var verifiedView = (await host.GetAsync())!;

        Assert.True(failed.SignatureValid, $"host {hostId}: host.failed signature did not verify");
        Assert.Equal("application/json; charset=utf-8", failed.ContentType);
        Assert.Equal(WebhookEvents.Failed, failed.EventType);
        Assert.Equal(WebhookEvents.IdOf(hostId, failedView.Revision, WebhookEvents.Failed), failed.EventId);
        var body = failed.Body;
        Assert.Equal(failed.EventId, body.GetProperty("id").GetString());
        Assert.Equal("host.failed", body.GetProperty("type").GetString());
        Assert.Equal(hostId, body.GetProperty("host_id").GetString());
        Assert.Equal("webhook-test", body.GetProperty("hostname").GetString());
        Assert.Equal("windows", body.GetProperty("platform").GetString());
        Assert.Equal("10.0.22631", body.GetProperty("os_version").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("team_id").ValueKind);
        Assert.Equal(failedView.Refetch!.Epoch, body.GetProperty("epoch").GetInt32());
        Assert.Equal("failed", body.GetProperty("status").GetString());
        Assert.Equal(ReasonCodes.AgentSilent, body.GetProperty("reason").GetProperty("code").GetString());
        Assert.Equal(failedView.Refetch.Reason!.Message, body.GetProperty("reason").GetProperty("message").GetString());
        Assert.Equal(failedView.Refetch.CompletedAt, body.GetProperty("occurred_at").GetDateTimeOffset());

        var recovered = received[1];
        Assert.True(recovered.SignatureValid, $"host {hostId}: host.recovered signature did not verify");
        Assert.Equal(WebhookEvents.Recovered, recovered.EventType);
        Assert.Equal(WebhookEvents.IdOf(hostId, verifiedView.Revision, WebhookEvents.Recovered), recovered.EventId);
        Assert.Equal("verified", recovered.Body.GetProperty("status").GetString());
        Assert.Equal(verifiedView.Refetch!.Epoch, recovered.Body.GetProperty("epoch").GetInt32());
        Assert.Equal(JsonValueKind.Null, recovered.Body.GetProperty("reason").ValueKind);
        Assert.Equal(verifiedView.Refetch.CompletedAt, recovered.Body.GetProperty("occurred_at").GetDateTimeOffset());
    }

    [Fact]
    public async Task VerifiedWithoutFailureBefore_SendsNothing()
    {
        await fixture.SettledAsync();
        var (host, hostId, secret) = await EnrollAsync();
        var before = fixture.Metrics.Total(WebhookOutcome.Delivered);

        await VerifyAsync(host, secret);
        await FailByAgentErrorAsync(host, secret);
        var received = await fixture.Receiver.WaitForAsync(hostId, 1, Wait);
        await fixture.SettledAsync();

        Assert.Equal([WebhookEvents.Failed], received.Select(r => r.EventType ?? "(none)").ToArray());
        Assert.Equal(before + 1, fixture.Metrics.Total(WebhookOutcome.Delivered));
    }

    [Fact]
    public async Task Receiver_Answering500Twice_GetsTheSameEventThreeTimes_RetriedThenDelivered()
    {
        await fixture.SettledAsync();
        var (host, hostId, secret) = await EnrollAsync();
        fixture.Receiver.Script(hostId, HttpStatusCode.InternalServerError, HttpStatusCode.InternalServerError);
        var retried = fixture.Metrics.Total(WebhookOutcome.Retried);
        var delivered = fixture.Metrics.Total(WebhookOutcome.Delivered);
        var gaveUp = fixture.Metrics.Total(WebhookOutcome.GaveUp);

        await FailByAgentErrorAsync(host, secret);
        var received = await fixture.Receiver.WaitForAsync(hostId, 3, Wait);
        await fixture.SettledAsync();

        Assert.Equal([500, 500, 200], received.Select(r => r.Answered).ToArray());
        Assert.Single(received.Select(r => r.EventId).Distinct());
        Assert.All(received, r => Assert.True(r.SignatureValid, $"host {hostId}: attempt signature did not verify"));
        Assert.Equal(retried + 2, fixture.Metrics.Total(WebhookOutcome.Retried));
        Assert.Equal(delivered + 1, fixture.Metrics.Total(WebhookOutcome.Delivered));
        Assert.Equal(gaveUp, fixture.Metrics.Total(WebhookOutcome.GaveUp));
    }

    [Fact]
    public async Task Receiver_Answering500OnEveryAttempt_GivesUpAfterMaxAttempts()
    {
        await fixture.SettledAsync();
        var (host, hostId, secret) = await EnrollAsync();
        fixture.Receiver.Script(hostId, HttpStatusCode.ServiceUnavailable, HttpStatusCode.BadGateway, HttpStatusCode.InternalServerError);
        var gaveUp = fixture.Metrics.Total(WebhookOutcome.GaveUp);

        await FailByAgentErrorAsync(host, secret);
        await fixture.Receiver.WaitForAsync(hostId, 3, Wait);
        await fixture.SettledAsync();

        Assert.Equal([503, 502, 500], fixture.Receiver.For(hostId).Select(r => r.Answered).ToArray());
        Assert.Equal(gaveUp + 1, fixture.Metrics.Total(WebhookOutcome.GaveUp));
    }

    [Fact]
    public async Task Receiver_Answering400_IsGivenUpWithoutRetry()
    {
        await fixture.SettledAsync();
        var (host, hostId, secret) = await EnrollAsync();
        fixture.Receiver.Script(hostId, HttpStatusCode.BadRequest);
        var retried = fixture.Metrics.Total(WebhookOutcome.Retried);
        var gaveUp = fixture.Metrics.Total(WebhookOutcome.GaveUp);

        await FailByAgentErrorAsync(host, secret);
        await fixture.Receiver.WaitForAsync(hostId, 1, Wait);
        await fixture.SettledAsync();

        Assert.Equal([400], fixture.Receiver.For(hostId).Select(r => r.Answered).ToArray());
        Assert.Equal(retried, fixture.Metrics.Total(WebhookOutcome.Retried));
        Assert.Equal(gaveUp + 1, fixture.Metrics.Total(WebhookOutcome.GaveUp));
    }
}
