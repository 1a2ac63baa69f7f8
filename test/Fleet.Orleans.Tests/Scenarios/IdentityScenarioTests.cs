using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;
using static Fleet.Tests.Identity.ApiIdentityKit;
using static Fleet.Tests.Scenarios.ScenarioChecks;

namespace Fleet.Tests.Scenarios;

/// <summary>
/// The cases of the device identity issue end to end, through HTTP only: the Mac (<see cref="HttpTestMac"/>) signs
/// every MDM request with <c>Mdm-Signature</c> and installs the PKCS#12 the silo issued and the Api rendered;
/// operators read <c>/api/v1</c>. Timings are those of <see cref="IdentityScenarioFixture"/>; every wait is computed
/// from them. The Macs run macOS 14, whose MDM refetch deadline (minutes) never passes during a test.
/// </summary>
public sealed class IdentityScenarioTests(IdentityScenarioFixture fixture) : IClassFixture<IdentityScenarioFixture>
{
    /// <summary>Room for a push that needs no deadline to pass.</summary>
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    private readonly HttpClient _operator = fixture.OperatorClient();
    private readonly HttpClient _device = fixture.DeviceClient();

    [Fact]
    public async Task Case4_RenewalAnsweredNotNowTwiceThenAcknowledged_TheNextRequestPresentsTheNewCertificate_AndTheOldOneWorksOnlyDuringTheOverlap()
    {
        var mac = await EnrolledMacAsync("renewing", DateTimeOffset.UtcNow.AddDays(10));
        var old = mac.Identity;
        mac.Script = c => c.IsIdentityRenewal && c.Offered <= 2 ? MacAnswer.NotNow : MacAnswer.Acknowledged;
        var queued = await _operator.GetHostAsync(mac.HostId);

        var sessions = new[] { await mac.WakeAsync(s_wait), await mac.WakeAsync(s_wait), await mac.WakeAsync(s_wait) };
        var installed = await _operator.GetHostAsync(mac.HostId);
        var presented = await mac.SessionAsync();
        var renewed = await _operator.GetHostAsync(mac.HostId);
        using var oldDuringOverlap = await ReportAsync(_device, Idle(mac.HostId), old);
        var acceptedUntil = Instant(renewed["identity"], "previous_accepted_until");
        await Task.Delay(acceptedUntil - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(100), TestAborted);
        var before = Refusals(fixture.Logs).Count;
        using var oldAfterOverlap = await ReportAsync(_device, Idle(mac.HostId), old);
        var newAfterOverlap = await mac.SessionAsync();
        var final = await _operator.GetHostAsync(mac.HostId);

        var uuid = Text(queued["identity"]!["renewal"], "command_uuid")!;
        ExpectRenewal(queued, mac, "queued", attempt: 1, uuid);
        Assert.Equal("renewing", Text(queued["identity"], "state"));
        ExpectCommands(mac, sessions[0], ("InstallProfile", MacAnswer.NotNow));
        ExpectCommands(mac, sessions[1], ("InstallProfile", MacAnswer.NotNow));
        ExpectCommands(mac, sessions[2], ("InstallProfile", MacAnswer.Acknowledged));
        Assert.All(sessions, s => Assert.True(s[0].Command.IsIdentityRenewal && s[0].Command.Uuid == uuid, $"{mac}: offered {s[0].Command}, expected RenewIdentity {uuid}"));
        Assert.Equal([1, 2, 3], sessions.Select(s => s[0].Command.Offered));
        ExpectRenewal(installed, mac, "installed", attempt: 1, uuid);

        var identity = Assert.Single(mac.Renewed);
        ExpectIssuedFor(mac, identity);
        Assert.Empty(presented);
        var recorded = renewed["identity"];
        ExpectTexts(recorded, new Dictionary<string, string?>
        {
            ["serial_number"] = identity.SerialNumber,
            ["previous_serial_number"] = old.SerialNumber,
            ["subject"] = $"CN={mac.HostId}",
            ["issuer"] = TestPki.DeviceCa.Certificate.Subject,
            ["state"] = "valid",
        }, $"{mac} after presenting its renewed certificate");
        Assert.True(recorded!["renewal"] is null, $"{mac}: the renewal is still in flight: {Show(recorded["renewal"])}");
        Assert.Equal(
            ["recorded", "renewal_queued", "issued", "not_now", "issued", "not_now", "issued", "installed", "renewed"],
            Steps(renewed));
        ExpectOnTime(mac, "the overlap's end", acceptedUntil, Instant(History(renewed)[^1], "at") + IdentityScenarioFixture.Overlap);

        await ExpectStatusAsync(oldDuringOverlap, HttpStatusCode.OK, $"{mac}: Idle with the replaced certificate during the overlap");
        var why = $"certificate serial {old.SerialNumber} was replaced at {Utc(Instant(History(renewed)[^1], "at"))} by serial " +
            $"{identity.SerialNumber}; its overlap ended at {Utc(acceptedUntil)}";
        var shown = $"its certificate '{old.Subject}' (serial {old.SerialNumber}) is not one this device's record accepts";
        var problem = await ExpectRefusedAsync(
            oldAfterOverlap, HttpStatusCode.Unauthorized, why, fixture.Logs, before, mac.HostId, $"{mac}: Idle with the replaced certificate after the overlap", shown);
        Assert.Equal($"The device was not authenticated: {shown}.", Text(problem, "detail"));
        Assert.Empty(newAfterOverlap);
        Assert.Equal(Int(renewed, "revision"), Int(final, "revision"));
    }

    [Fact]
    public async Task Case4_RenewalInstalledButItsAcknowledgementLost_TheNewCertificateIsRecordedAndTheCommandDropped()
    {
        var mac = await EnrolledMacAsync("lost-renewal-ack", DateTimeOffset.UtcNow.AddDays(10));
        var old = mac.Identity;
        mac.Script = c => c.IsIdentityRenewal ? MacAnswer.LoseAck : MacAnswer.Acknowledged;

        var installed = await mac.WakeAsync(s_wait);
        var presented = await mac.SessionAsync();
        var host = await _operator.GetHostAsync(mac.HostId);

        ExpectCommands(mac, installed, ("InstallProfile", MacAnswer.LoseAck));
        Assert.Empty(presented);
        var identity = host["identity"];
        Assert.Equal(
            (Assert.Single(mac.Renewed).SerialNumber, old.SerialNumber, "valid"),
            (Text(identity, "serial_number"), Text(identity, "previous_serial_number"), Text(identity, "state")));
        Assert.Equal(["recorded", "renewal_queued", "issued", "renewed"], Steps(host));
        Assert.Equal(0, Int(host["mdm"], "queued_commands"));
    }

    [Fact]
    public async Task Case5_RenewalNeverAnswered_IsDroppedAtItsDeadline_AndRetriedAsANewCommandAfterTheBackoff()
    {
        var mac = await EnrolledMacAsync("ignores-renewal", DateTimeOffset.UtcNow.AddDays(10));
        string? ignored = null;
        mac.Script = c => c.Uuid == (ignored ??= c.Uuid) ? MacAnswer.Ignore : MacAnswer.Acknowledged;
        var queued = await _operator.GetHostAsync(mac.HostId);
        var deadline = Instant(queued["identity"]!["renewal"], "deadline");

        // The Mac takes the command once and then sleeps through every push until the renewal is queued again.
        var first = await mac.WakeAsync(s_wait);
        var retried = await EventuallyAsync(
            () => _operator.GetHostAsync(mac.HostId),
            h => h["identity"]?["renewal"] is { } r && Int(r, "attempt") == 2 && Text(r, "status") == "queued",
            $"{mac}: renewal attempt 2 queued",
            deadline + IdentityScenarioFixture.RetryBackoff + TimerSlack - DateTimeOffset.UtcNow);
        var second = await mac.SessionAsync();
        var presented = await mac.SessionAsync();
        var renewed = await _operator.GetHostAsync(mac.HostId);

        ExpectCommands(mac, first, ("InstallProfile", MacAnswer.Ignore));
        Assert.Equal(Text(queued["identity"]!["renewal"], "command_uuid"), ignored);
        var retry = retried["identity"]!["renewal"];
        var uuid = Text(retry, "command_uuid")!;
        Assert.NotEqual(ignored, uuid);
        Assert.Equal(ReasonCodes.MdmNoAck, Text(retry!["last_failure"], "code"));
        Assert.Equal(1, Int(retried["mdm"], "queued_commands"));
        Assert.Equal(["recorded", "renewal_queued", "issued", "retry_scheduled", "renewal_retried"], Steps(retried));
        var history = History(retried);
        var (queuedAt, droppedAt, retriedAt) = (Instant(history[1], "at"), Instant(history[3], "at"), Instant(history[4], "at"));
        ExpectOnTime(mac, "the unanswered command dropped", droppedAt, queuedAt + IdentityScenarioFixture.Timeout);
        ExpectOnTime(mac, "the new command queued", retriedAt, droppedAt + IdentityScenarioFixture.RetryBackoff);
        Assert.Contains(TestPushSender.Shared.PushesTo(mac.Token), p => p >= retriedAt - TimeSpan.FromMilliseconds(25));

        ExpectCommands(mac, second, ("InstallProfile", MacAnswer.Acknowledged));
        Assert.True(second[0].Command.IsIdentityRenewal && second[0].Command.Uuid == uuid, $"{mac}: offered {second[0].Command}, expected RenewIdentity {uuid}");
        Assert.Empty(presented);
        Assert.Equal(Assert.Single(mac.Renewed).SerialNumber, Text(renewed["identity"], "serial_number"));
        Assert.Equal(
            ["recorded", "renewal_queued", "issued", "retry_scheduled", "renewal_retried", "issued", "installed", "renewed"],
            Steps(renewed));
        Assert.Equal(0, Int(renewed["mdm"], "queued_commands"));
    }

    [Fact]
    public async Task Case3_CertificateExpiresWhileARefetchIsPending_TheNextRequestIs401_AndTheRefetchHasFailedWithIdentityExpired()
    {
        var mac = await EnrolledMacAsync("expiring", DateTimeOffset.UtcNow.AddSeconds(8));
        var notAfter = new DateTimeOffset(mac.Identity.NotAfter.ToUniversalTime());
        var requested = await RefetchAsync(mac);
        var renewing = await ListedAsync(mac, days: 1, "renewing");
        var summaryBefore = await IdentitySummaryAsync();

        await Task.Delay(notAfter - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200), TestAborted);
        var before = Refusals(fixture.Logs).Count;
        using var response = await ReportAsync(_device, Idle(mac.HostId), mac.Identity);
        var answeredAt = DateTimeOffset.UtcNow;
        var host = await _operator.GetHostAsync(mac.HostId);
        var listed = await ListedAsync(mac, days: 0, "expired");
        var summaryAfter = await EventuallyAsync(
            IdentitySummaryAsync,
            s => Int(s, "expired") == Int(summaryBefore, "expired") + 1 && Int(s, "renewing") == Int(summaryBefore, "renewing") - 1,
            $"{mac}: summary identity counts moving one host from renewing ({Show(summaryBefore)}) to expired");

        await ExpectRefusedAsync(
            response, HttpStatusCode.Unauthorized, $"expired at {Utc(notAfter)}", fixture.Logs, before, mac.HostId, $"{mac}: Idle with its expired certificate");
        var reason = new JsonObject { ["code"] = ReasonCodes.IdentityExpired, ["message"] = $"identity certificate expired at {Utc(notAfter)}" };
        var refetch = host["refetch"];
        Assert.True(
            Int(refetch, "epoch") == Int(requested, "epoch") && Text(refetch, "status") == "failed" && JsonNode.DeepEquals(reason, refetch!["reason"]),
            $"{mac}: expected refetch epoch {Int(requested, "epoch")} failed with {Show(reason)}, got {Show(refetch)}");
        Assert.True(JsonNode.DeepEquals(reason, refetch["mdm"]!["reason"]), $"{mac}: MDM part {Show(refetch["mdm"])}");
        var completedAt = Instant(refetch, "completed_at");
        var mdmDeadline = Instant(requested["mdm"], "deadline");
        Assert.True(completedAt >= notAfter && completedAt <= answeredAt,
            $"{mac}: refetch failed at {completedAt:O}; the certificate expired at {notAfter:O}, the 401 came at {answeredAt:O}");
        Assert.True(mdmDeadline - completedAt > TimeSpan.FromMinutes(4), $"{mac}: failed at {completedAt:O}, MDM deadline {mdmDeadline:O}");
        var identity = host["identity"];
        Assert.Equal("expired", Text(identity, "state"));
        Assert.True(JsonNode.DeepEquals(reason, identity!["reason"]), $"{mac}: identity reason {Show(identity["reason"])}");
        Assert.True(identity["renewal"] is null, $"{mac}: renewal still in flight: {Show(identity["renewal"])}");
        Assert.Equal(0, Int(host["mdm"], "queued_commands"));
        Assert.Equal((notAfter, notAfter), (Instant(renewing, "certificate_not_after"), Instant(listed, "certificate_not_after")));
        Assert.Equal((Int(summaryBefore, "expired") + 1, Int(summaryBefore, "renewing") - 1), (Int(summaryAfter, "expired"), Int(summaryAfter, "renewing")));
    }

    [Fact]
    public async Task Case6_HostAPresentsHostBsCertificateWhoseNameIsNoUdid_Is403_AndNeitherHostChanges()
    {
        var shared = TestPki.DeviceCa.Issue("device-identity", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(365));
        var b = await EnrolledMacAsync("owner", identity: shared);
        var a = await EnrolledMacAsync("borrower");
        var beforeA = await _operator.GetHostAsync(a.HostId);
        var beforeB = await _operator.GetHostAsync(b.HostId);
        var why = $"certificate serial {shared.SerialNumber} belongs to host {b.HostId}";
        var before = Refusals(fixture.Logs).Count;

        var shown = $"its certificate '{shared.Subject}' (serial {shared.SerialNumber}) belongs to another device";
        using var checkIn = await CheckInAsync(_device, TokenUpdate(a.HostId), shared);
        await ExpectRefusedAsync(checkIn, HttpStatusCode.Forbidden, why, fixture.Logs, before, a.HostId, $"{a}: TokenUpdate with {b}'s certificate", shown);
        using var report = await ReportAsync(_device, Idle(a.HostId), shared);
        var problem = await ExpectRefusedAsync(report, HttpStatusCode.Forbidden, why, fixture.Logs, before + 1, a.HostId, $"{a}: Idle with {b}'s certificate", shown);
        var afterA = await _operator.GetHostAsync(a.HostId);
        var afterB = await _operator.GetHostAsync(b.HostId);
        var ownerSession = await b.SessionAsync();

        Assert.Equal(shared.Subject, Text(beforeB["identity"], "subject"));
        Assert.Equal($"The certificate may not speak for this device: {shown}.", Text(problem, "detail"));
        Assert.DoesNotContain(b.HostId, Text(problem, "detail"), StringComparison.Ordinal);
        foreach (var (mac, was, now) in new[] { (a, beforeA, afterA), (b, beforeB, afterB) })
        {
            foreach (var field in new[] { "revision", "last_seen_at", "identity", "mdm" })
            {
                Assert.True(JsonNode.DeepEquals(was[field], now[field]), $"{mac}: {field} changed from {Show(was[field])} to {Show(now[field])}");
            }
        }

        Assert.Empty(ownerSession);
    }

    /// <summary>
    /// A Mac enrolled over osquery and MDM with <paramref name="identity"/>, or else an identity of its own from the
    /// device CA valid until <paramref name="notAfter"/> (a year by default).
    /// </summary>
    private async Task<HttpTestMac> EnrolledMacAsync(string name, DateTimeOffset? notAfter = null, X509Certificate2? identity = null)
    {
        var mac = new HttpTestMac(_device, AgentProfile.MacOs14, name);
        if (identity is not null || notAfter is not null)
        {
            mac.Identity = identity ?? TestPki.Identity(mac.HostId, notAfter: notAfter);
        }

        await mac.EnrollAsync();

        return mac;
    }

    private async Task<JsonObject> RefetchAsync(HttpTestMac mac)
    {
        using var response = await _operator.RefetchAsync(mac.HostId);

        return await ExpectStatusAsync(response, HttpStatusCode.Accepted, $"refetch of {mac}");
    }

    /// <summary>The Mac's row among the hosts whose certificate expires within <paramref name="days"/>, once it shows <paramref name="identity"/>.</summary>
    private async Task<JsonNode> ListedAsync(HttpTestMac mac, int days, string identity)
    {
        var rows = await EventuallyAsync(
            () => _operator.ListRowsAsync($"certificate_expires_within_days={days}"),
            rows => rows.Any(r => Text(r, "host_id") == mac.HostId && Text(r, "identity") == identity),
            $"{mac} listed with certificate_expires_within_days={days} and identity {identity}",
            s_wait);

        return rows.Single(r => Text(r, "host_id") == mac.HostId);
    }

    private async Task<JsonNode> IdentitySummaryAsync()
    {
        using var response = await _operator.GetAsync("/api/v1/hosts/summary", TestAborted);

        return (await ExpectStatusAsync(response, HttpStatusCode.OK, "GET summary"))["identity"]!;
    }

    private static void ExpectRenewal(JsonObject host, HttpTestMac mac, string status, int attempt, string uuid)
    {
        var renewal = host["identity"]?["renewal"];
        Assert.True(
            Text(renewal, "status") == status && Int(renewal, "attempt") == attempt && Text(renewal, "command_uuid") == uuid,
            $"{mac}: expected renewal {status} attempt {attempt} of {uuid}, got {Show(renewal)}");
    }

    /// <summary>The identity the Mac installed: its own, from the trusted device CA, for client authentication, with its key.</summary>
    private static void ExpectIssuedFor(HttpTestMac mac, X509Certificate2 identity)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(TestPki.DeviceCa.Certificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var usages = identity.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>();

        Assert.Equal($"CN={mac.HostId}", identity.Subject);
        Assert.True(chain.Build(identity), $"{mac}: the renewed identity does not chain to the device CA: {string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation))}");
        Assert.Equal(["1.3.6.1.5.5.7.3.2"], usages.Select(o => o.Value));
        Assert.True(identity.HasPrivateKey, $"{mac}: the renewed identity came without its key");
    }

    private static JsonArray History(JsonObject host) => host["identity"]!["history"]!.AsArray();

    private static string[] Steps(JsonObject host) => [.. History(host).Select(e => Text(e, "step")!)];

    private static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
