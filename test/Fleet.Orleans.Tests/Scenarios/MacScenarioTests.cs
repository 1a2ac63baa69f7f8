using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Contracts;
using Fleet.Grains.Mdm;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;
using static Fleet.Tests.Scenarios.ScenarioChecks;

namespace Fleet.Tests.Scenarios;

/// <summary>
/// The cases of the macOS MDM issue end to end, through HTTP only: operators on <c>/api/v1</c>, Macs on the
/// osquery and MDM endpoints (<see cref="HttpTestMac"/>). Timings are those of <see cref="MacScenarioFixture"/>;
/// every wait is computed from them. The silo-restart case runs on the grain level (MdmSiloRestartTests),
/// because the in-memory Api cannot outlive a killed silo of this cluster; here the device's resent
/// acknowledgement is checked to be idempotent through HTTP.
/// </summary>
public sealed class MacScenarioTests(MacScenarioFixture fixture) : IClassFixture<MacScenarioFixture>
{
    private const string Firewall = "com.example.fleet.firewall";
    private const string Passcode = "com.example.fleet.passcode";

    /// <summary>Room for a push or a background team message that needs no deadline to pass.</summary>
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    private readonly HttpClient _operator = fixture.OperatorClient();
    private readonly HttpClient _device = fixture.AgentClient();

    [Fact]
    public async Task Case1_AckLost_ProfileSeenByOsquery_IsVerifiedOnTheNextRefetch()
    {
        var team = await TeamWithAsync((Firewall, "Firewall", "fw-1"));
        var mac = await EnrolledMacAsync(AgentProfile.MacOs14, "lost-ack");
        mac.Script = c => c.RequestType == "InstallProfile" ? MacAnswer.LoseAck : MacAnswer.Acknowledged;
        await JoinAsync(mac, team);

        var installed = await mac.WakeAsync(s_wait);
        var lost = await _operator.GetHostAsync(mac.HostId);
        var refetch = await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();
        var refetchSession = await mac.SessionAsync();
        var host = await _operator.GetHostAsync(mac.HostId);

        ExpectCommands(mac, installed, ("InstallProfile", MacAnswer.LoseAck));
        Assert.Equal(Firewall, installed[0].Command.ProfileIdentifier);
        ExpectProfile(lost, Firewall, "install", "pending", attempt: 1);

        // The queued InstallProfile was dropped by osquery's confirmation: the refetch's session has only its own commands.
        ExpectCommands(mac, refetchSession, ("DeviceInformation", MacAnswer.Acknowledged), ("ProfileList", MacAnswer.Acknowledged));
        ExpectRefetch(host, (int)Int(refetch, "epoch")!, "verified");
        var profile = ExpectProfile(host, Firewall, "install", "verified", attempt: 1);
        Assert.Equal("confirmed installed by osquery", Text(profile, "detail"));
        ExpectHistory(mac, profile, ("none", "pending"), ("pending", "verified"));
        ExpectMdm(host, mac, queued: 0, nextPush: false);
        Assert.Equal("verified", Text(host, "os_settings"));
        await ExpectSummaryAsync(team, verified: 1, verifying: 0, pending: 0, failed: 0);
    }

    [Fact]
    public async Task Case2_NotNowThreeTimesThenAcknowledged_IsVerified_WithPushesSpacedByTheBackoff()
    {
        const int notNowSessions = 3;
        var mac = await EnrolledMacAsync(AgentProfile.MacOs15, "not-now");
        mac.Script = c => c.Session <= notNowSessions ? MacAnswer.NotNow : MacAnswer.Acknowledged;
        var refetch = await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();

        var sessionStarts = new List<DateTimeOffset>();
        var scheduled = new List<DateTimeOffset?>();
        var sessions = new List<IReadOnlyList<HandledCommand>>();
        for (var n = 1; n <= notNowSessions + 1; n++)
        {
            await mac.WaitForPushAsync(s_wait);
            sessionStarts.Add(DateTimeOffset.UtcNow);
            sessions.Add(await mac.SessionAsync());
            scheduled.Add(Text((await _operator.GetHostAsync(mac.HostId))["mdm"], "next_push_at") is { } at
                ? DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture)
                : null);
        }

        var host = await _operator.GetHostAsync(mac.HostId);
        var pushes = TestPushSender.Shared.PushesTo(mac.Token);

        for (var n = 0; n < notNowSessions; n++)
        {
            ExpectCommands(mac, sessions[n], ("DeviceInformation", MacAnswer.NotNow), ("ProfileList", MacAnswer.NotNow));
        }

        ExpectCommands(mac, sessions[^1], ("DeviceInformation", MacAnswer.Acknowledged), ("ProfileList", MacAnswer.Acknowledged));
        Assert.Single(sessions.SelectMany(s => s).Where(h => h.Command.RequestType == "DeviceInformation").Select(h => h.Command.Uuid).Distinct());
        var verified = ExpectRefetch(host, (int)Int(refetch, "epoch")!, "verified");
        Assert.True(Int(verified["mdm"], "attempt") == 1, $"{mac}: the MDM part needed a retry: {Show(verified["mdm"])}");

        // After the n-th NotNow the server schedules the next push RepushBackoff × 2^(n−1) after that report (which
        // came after the session started), and a push does come; no two pushes come closer than RepushBackoff. A
        // push scheduled before the session may fire while the session runs: that is not a NotNow re-push.
        for (var n = 1; n <= notNowSessions; n++)
        {
            var backoff = MacScenarioFixture.RepushBackoff * Math.Pow(2, n - 1);
            var next = scheduled[n - 1];
            Assert.True(next is { } at && at - sessionStarts[n - 1] >= backoff,
                $"{mac}: after NotNow session {n} the next push was scheduled {(next - sessionStarts[n - 1])?.TotalMilliseconds:F0} ms after the session began; expected at least {backoff.TotalMilliseconds} ms");
            Assert.Contains(pushes, p => p >= next!.Value - TimeSpan.FromMilliseconds(25));
        }

        var gaps = pushes.Zip(pushes.Skip(1), (a, b) => b - a).ToList();
        Assert.True(gaps.All(g => g >= MacScenarioFixture.RepushBackoff - TimeSpan.FromMilliseconds(25)),
            $"{mac}: pushes closer than the re-push backoff (a tight loop): gaps {string.Join(", ", gaps.Select(g => $"{g.TotalMilliseconds:F0} ms"))}");
        Assert.True(pushes.Count >= notNowSessions + 1, $"{mac}: {pushes.Count} pushes woke {notNowSessions + 1} sessions");
        ExpectMdm(host, mac, queued: 0, nextPush: false);
    }

    [Fact]
    public async Task Case3_NotNowThenAnotherCommandAnsweredInTheSameSession_IsOfferedOnlyInALaterSessionAndCompletes()
    {
        var mac = await EnrolledMacAsync(AgentProfile.MacOs14, "not-now-once");
        mac.Script = c => c is { RequestType: "DeviceInformation", Session: 1 } ? MacAnswer.NotNow : MacAnswer.Acknowledged;
        var refetch = await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();

        var first = await mac.WakeAsync(s_wait);
        var between = await _operator.GetHostAsync(mac.HostId);
        var second = await mac.WakeAsync(s_wait);
        var host = await _operator.GetHostAsync(mac.HostId);

        ExpectCommands(mac, first, ("DeviceInformation", MacAnswer.NotNow), ("ProfileList", MacAnswer.Acknowledged));
        ExpectCommands(mac, second, ("DeviceInformation", MacAnswer.Acknowledged));
        Assert.Equal(first[0].Command.Uuid, second[0].Command.Uuid);
        Assert.Equal(2, second[0].Command.Offered);
        var waiting = ExpectRefetch(between, (int)Int(refetch, "epoch")!, "verifying");
        Assert.Equal("verified", Text(waiting["osquery"], "status"));

        // The MDM part turned verifying when its DeviceInformation was handed out; NotNow leaves it there.
        Assert.Equal("verifying", Text(waiting["mdm"], "status"));
        ExpectMdm(between, mac, queued: 1, nextPush: true);
        ExpectRefetch(host, (int)Int(refetch, "epoch")!, "verified");
        ExpectMdm(host, mac, queued: 0, nextPush: false);
    }

    [Fact]
    public async Task Case4_ExpiredPushCertificate_ShowsPushFailedWhilePendingAndFailsAtTheDeadlinesWithIt()
    {
        const string expired = "The push certificate expired at 2026-01-01T00:00:00Z; renew it to reach devices.";
        var team = await TeamWithAsync((Firewall, "Firewall", "fw-1"));
        var mac = await EnrolledMacAsync(AgentProfile.MacOs15, "expired-certificate");
        TestPushSender.Shared.FailFor(mac.Token, PushFailureKind.CertificateExpired, expired);
        var joinedAt = DateTimeOffset.UtcNow;
        await JoinAsync(mac, team);
        var refetch = await RefetchAsync(mac);
        var requestedAt = Instant(refetch, "requested_at");

        var pending = await EventuallyAsync(
            () => _operator.GetHostAsync(mac.HostId),
            h => h["mdm"]?["push_failure"] is JsonObject,
            $"{mac} showing its push failure",
            s_wait);
        var failed = await EventuallyAsync(
            () => _operator.GetHostAsync(mac.HostId),
            h => Text(h["refetch"], "status") == "failed" && Text(Profile(h, Firewall), "status") == "failed",
            $"{mac} failing its refetch and its profile",
            Later(MacScenarioFixture.FinalMdmDeadline("macos15", requestedAt), joinedAt + (MacScenarioFixture.PendingTimeout * MacScenarioFixture.ProfileMaxAttempts))
                - DateTimeOffset.UtcNow + TimerSlack);

        var reason = new JsonObject { ["code"] = ReasonCodes.PushFailed, ["message"] = expired };
        Assert.True(JsonNode.DeepEquals(reason, pending["mdm"]!["push_failure"]), $"{mac}: push_failure {Show(pending["mdm"]!["push_failure"])}");
        Assert.Equal("certificate_expired", Text(pending["mdm"], "push_failure_kind"));
        ExpectRefetch(pending, (int)Int(refetch, "epoch")!, "pending");
        Assert.Equal("pending", Text(pending["refetch"]!["mdm"], "status"));
        ExpectProfile(pending, Firewall, "install", "pending", attempt: 1);

        var refetched = ExpectRefetch(failed, (int)Int(refetch, "epoch")!, "failed");
        Assert.True(JsonNode.DeepEquals(reason, refetched["reason"]), $"{mac}: refetch reason {Show(refetched["reason"])}");
        Assert.Equal(MacScenarioFixture.MdmMaxAttempts, Int(refetched["mdm"], "attempt"));
        ExpectOnTime(mac, "the refetch failed", Instant(refetched, "completed_at"), MacScenarioFixture.FinalMdmDeadline("macos15", requestedAt));
        Assert.Equal(
            [("none", "pending", null), ("pending", "pending", ReasonCodes.PushFailed), ("pending", "failed", ReasonCodes.PushFailed)],
            failed["transitions"]!.AsArray().Select(t => (Text(t, "from"), Text(t, "to"), Text(t?["reason"], "code"))).ToArray());

        var profile = ExpectProfile(failed, Firewall, "install", "failed", attempt: MacScenarioFixture.ProfileMaxAttempts);
        var detail = Text(profile, "detail")!;
        Assert.True(detail.StartsWith("no answer to InstallProfile queued at ", StringComparison.Ordinal)
            && detail.EndsWith($"after 2 sends; the last push failed: {expired}", StringComparison.Ordinal), $"{mac}: profile detail '{detail}'");
        ExpectOnTime(mac, "the profile failed", Instant(profile, "updated_at"), joinedAt + (MacScenarioFixture.PendingTimeout * MacScenarioFixture.ProfileMaxAttempts));
        ExpectHistory(mac, profile, ("none", "pending"), ("pending", "pending"), ("pending", "failed"));
        await ExpectSummaryAsync(team, verified: 0, verifying: 0, pending: 0, failed: 1);
    }

    [Fact]
    public async Task Case5_ProfileAddedDeletedAndReAddedWhileOffline_ConvergesToVerifiedWithoutARemoval()
    {
        var team = NewTeam();
        var mac = await EnrolledMacAsync(AgentProfile.MacOs14, "offline");
        await JoinAsync(mac, team);

        await DeclareAsync(team, Firewall, "Firewall", "fw-1");
        await WaitForProfilesAsync(mac, profiles => profiles.Count == 1, "the declared profile");
        await DeleteAsync(team, Firewall);
        await WaitForProfilesAsync(mac, profiles => profiles.Count == 0, "the deleted profile gone");
        await DeclareAsync(team, Firewall, "Firewall", "fw-1");
        await WaitForProfilesAsync(mac, profiles => profiles.Count == 1, "the re-added profile");

        var back = await mac.WakeAsync(s_wait);
        await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();
        await mac.SessionAsync();
        var host = await _operator.GetHostAsync(mac.HostId);

        ExpectCommands(mac, back, ("InstallProfile", MacAnswer.Acknowledged));
        Assert.DoesNotContain(mac.Handled, h => h.Command.RequestType == "RemoveProfile");
        var profile = ExpectProfile(host, Firewall, "install", "verified", attempt: 1);
        ExpectHistory(mac, profile, ("none", "pending"), ("pending", "verifying"), ("verifying", "verified"));
        Assert.All(profile["history"]!.AsArray(), t => Assert.Equal("install", Text(t, "operation")));
        Assert.Equal("verified", Text(host, "os_settings"));
        await ExpectSummaryAsync(team, verified: 1, verifying: 0, pending: 0, failed: 0);
    }

    [Fact]
    public async Task Case6_VerifyingProfileReportedMissing_RetriesOnceThenFails_AndIsVerifiedWhenSeenLater()
    {
        var team = await TeamWithAsync((Passcode, "Passcode", "pc-1"));
        var mac = await EnrolledMacAsync(AgentProfile.MacOs15, "missing");
        mac.Script = c => c.RequestType == "InstallProfile" ? MacAnswer.AcknowledgeWithoutInstalling : MacAnswer.Acknowledged;
        await JoinAsync(mac, team);
        ExpectCommands(mac, await mac.WakeAsync(s_wait), ("InstallProfile", MacAnswer.AcknowledgeWithoutInstalling));

        await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();
        var missing = await _operator.GetHostAsync(mac.HostId);
        var retried = await WaitForProfileAsync(mac, Passcode, p => Text(p, "status") == "pending", "the retry after the grace period");
        var retrySession = await mac.SessionAsync();

        await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();
        var failed = await WaitForProfileAsync(mac, Passcode, p => Text(p, "status") == "failed", "failing after the retry");
        await mac.SessionAsync();

        mac.Install(Passcode, "Passcode");
        await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();
        await mac.SessionAsync();
        var host = await _operator.GetHostAsync(mac.HostId);

        var reported = ExpectProfile(missing, Passcode, "install", "verifying", attempt: 1);
        Assert.StartsWith("reported missing by osquery at ", Text(reported, "detail"), StringComparison.Ordinal);
        Assert.Equal(2, Int(retried, "attempt"));
        Assert.Matches("^was verifying; reported missing since .+; InstallProfile queued again \\(attempt 2 of 2\\)$", Text(retried, "detail"));
        ExpectCommands(mac, retrySession,
            ("DeviceInformation", MacAnswer.Acknowledged), ("ProfileList", MacAnswer.Acknowledged), ("InstallProfile", MacAnswer.AcknowledgeWithoutInstalling));
        Assert.Matches("^was verifying; reported missing since .+ \\(attempt 2 of 2\\)$", Text(failed, "detail"));
        var profile = ExpectProfile(host, Passcode, "install", "verified", attempt: 1);
        Assert.Equal("confirmed installed by osquery", Text(profile, "detail"));
        ExpectHistory(mac, profile,
            ("none", "pending"), ("pending", "verifying"), ("verifying", "pending"), ("pending", "verifying"), ("verifying", "failed"), ("failed", "verified"));
        await ExpectSummaryAsync(team, verified: 1, verifying: 0, pending: 0, failed: 0);
    }

    [Fact]
    public async Task Case7_OnePendingRemovalAmongVerifiedProfiles_MakesTheHostPendingInItsViewListAndSummary()
    {
        var team = await TeamWithAsync((Firewall, "Firewall", "fw-1"), (Passcode, "Passcode", "pc-1"));
        var mac = await EnrolledMacAsync(AgentProfile.MacOs14, "removal");
        await JoinAsync(mac, team);
        ExpectCommands(mac, await mac.WakeAsync(s_wait), ("InstallProfile", MacAnswer.Acknowledged), ("InstallProfile", MacAnswer.Acknowledged));
        await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();
        await mac.SessionAsync();
        await ExpectSummaryAsync(team, verified: 1, verifying: 0, pending: 0, failed: 0);

        await DeleteAsync(team, Passcode);
        var removing = await WaitForProfileAsync(mac, Passcode, p => Text(p, "operation") == "remove", "the removal");
        var host = await _operator.GetHostAsync(mac.HostId);
        await ExpectSummaryAsync(team, verified: 0, verifying: 0, pending: 1, failed: 0);
        var listed = await EventuallyAsync(
            () => _operator.ListRowsAsync($"team_id={team}&os_settings=pending"),
            rows => rows.Count == 1,
            $"{mac} listed with os_settings pending");

        Assert.Equal("pending", Text(removing, "status"));
        Assert.Equal("pending", Text(host, "os_settings"));
        ExpectProfile(host, Firewall, "install", "verified", attempt: 1);
        Assert.Equal(mac.HostId, Text(listed[0], "host_id"));
        Assert.Equal("pending", Text(listed[0], "os_settings"));

        ExpectCommands(mac, await mac.WakeAsync(s_wait), ("RemoveProfile", MacAnswer.Acknowledged));
        var removed = await _operator.GetHostAsync(mac.HostId);
        Assert.Equal([Firewall], removed["profiles"]!.AsArray().Select(p => Text(p, "identifier")!).ToArray());
        Assert.Equal("verified", Text(removed, "os_settings"));
        Assert.Equal([Firewall], mac.Installed.Select(p => p.Identifier).ToArray());
        await ExpectSummaryAsync(team, verified: 1, verifying: 0, pending: 0, failed: 0);
    }

    [Fact]
    public async Task Case8_TwoOperatorsRefetchAtOnce_OneEpochAndOneDeviceInformation()
    {
        var mac = await EnrolledMacAsync(AgentProfile.MacOs15, "two-operators");
        using var second = fixture.OperatorClient();

        var answers = await Task.WhenAll(_operator.RefetchAsync(mac.HostId), second.RefetchAsync(mac.HostId));
        var views = await Task.WhenAll(answers.Select((r, i) => ExpectStatusAsync(r, HttpStatusCode.Accepted, $"refetch {i + 1} of {mac}")));
        var queued = await _operator.GetHostAsync(mac.HostId);
        var session = await mac.WakeAsync(s_wait);
        await mac.CheckInOsqueryAsync();
        var host = await _operator.GetHostAsync(mac.HostId);

        Assert.Equal(Int(views[0], "epoch"), Int(views[1], "epoch"));
        Assert.Equal(Text(views[0], "deadline"), Text(views[1], "deadline"));
        Assert.Equal(Text(views[0]["mdm"], "command_uuid"), Text(views[1]["mdm"], "command_uuid"));
        ExpectMdm(queued, mac, queued: 2, nextPush: null);
        ExpectCommands(mac, session, ("DeviceInformation", MacAnswer.Acknowledged), ("ProfileList", MacAnswer.Acknowledged));
        Assert.Equal(Text(views[0]["mdm"], "command_uuid"), session[0].Command.Uuid);
        ExpectRefetch(host, (int)Int(views[0], "epoch")!, "verified");
        Assert.Single(host["transitions"]!.AsArray(), t => Text(t, "to") == "pending");
    }

    [Fact]
    public async Task Case9_ResentAcknowledgements_AreIdempotent_SameRevisionAndNoDoubledTransitions()
    {
        var team = await TeamWithAsync((Firewall, "Firewall", "fw-1"));
        var mac = await EnrolledMacAsync(AgentProfile.MacOs14, "resends");
        await JoinAsync(mac, team);
        await mac.WakeAsync(s_wait);
        await RefetchAsync(mac);
        await mac.CheckInOsqueryAsync();
        await mac.SessionAsync();
        var before = await _operator.GetHostAsync(mac.HostId);

        var resent = new List<byte[]?>();
        foreach (var handled in mac.Handled)
        {
            resent.Add(await mac.ResendAsync(handled));
        }

        var after = await _operator.GetHostAsync(mac.HostId);

        Assert.Equal(["InstallProfile", "DeviceInformation", "ProfileList"], mac.Handled.Select(h => h.Command.RequestType).ToArray());
        Assert.All(resent, body => Assert.Null(body));
        ExpectRefetch(before, 1, "verified");
        ExpectProfile(before, Firewall, "install", "verified", attempt: 1);
        Assert.True(Int(before, "revision") == Int(after, "revision"), $"{mac}: resent acknowledgements wrote state ({Int(before, "revision")} -> {Int(after, "revision")})");
        Assert.True(JsonNode.DeepEquals(before["refetch"], after["refetch"]), $"{mac}: refetch {Show(before["refetch"])} became {Show(after["refetch"])}");
        Assert.True(JsonNode.DeepEquals(before["transitions"], after["transitions"]), $"{mac}: transitions {Show(after["transitions"])}");
        Assert.True(JsonNode.DeepEquals(before["profiles"], after["profiles"]), $"{mac}: profiles {Show(after["profiles"])}");
        ExpectMdm(after, mac, queued: 0, nextPush: false);
    }

    [Fact]
    public async Task MixedFleet_RefetchedTogether_EveryHostEndsVerifiedOrFailedWithAReasonByItsDeadlines()
    {
        var team = await TeamWithAsync((Firewall, "Firewall", "fw-1"));
        string[] behaviours = ["ok", "ok", "ok", "not-now", "not-now", "asleep", "ok", "ok", "ok", "not-now", "not-now", "error"];
        var macs = await Task.WhenAll(behaviours.Select((b, i) =>
            EnrolledMacAsync(i < 6 ? AgentProfile.MacOs14 : AgentProfile.MacOs15, $"{b} #{i + 1}")));
        foreach (var mac in macs)
        {
            mac.Script = ScriptFor(mac.Name);
        }

        var joinedAt = DateTimeOffset.UtcNow;
        await Task.WhenAll(macs.Select(m => JoinAsync(m, team)));
        var refetches = await Task.WhenAll(macs.Select(RefetchAsync));
        var deadlines = macs.Select((m, i) => Later(
            MacScenarioFixture.FinalMdmDeadline(Text(refetches[i], "policy")!, Instant(refetches[i], "requested_at")),
            joinedAt + (MacScenarioFixture.PendingTimeout * MacScenarioFixture.ProfileMaxAttempts))).ToArray();

        var settled = await Task.WhenAll(macs.Select((m, i) => DriveUntilSettledAsync(m, deadlines[i] + TimerSlack)));

        for (var i = 0; i < macs.Length; i++)
        {
            var (mac, (host, at)) = (macs[i], settled[i]);
            var refetch = host["refetch"]!;
            var profile = Profile(host, Firewall)!;
            Assert.True(at <= deadlines[i] + TimerSlack, $"{mac}: settled at {at:O}, after its last deadline {deadlines[i]:O}");
            Assert.Equal(Int(refetches[i], "epoch"), Int(refetch, "epoch"));
            var expected = mac.Name.StartsWith("asleep", StringComparison.Ordinal) ? ("failed", ReasonCodes.MdmNoAck)
                : mac.Name.StartsWith("error", StringComparison.Ordinal) ? ("failed", ReasonCodes.MdmError)
                : ("verified", null);
            Assert.True((Text(refetch, "status"), Text(refetch["reason"], "code")) == expected,
                $"{mac}: refetch {Show(refetch)}; expected {expected}");
            Assert.True(Text(profile, "status") == (expected.Item1 == "verified" ? "verified" : "failed"),
                $"{mac}: profile {Show(profile)}");
            Assert.False(expected.Item1 == "failed" && string.IsNullOrWhiteSpace(Text(profile, "detail")), $"{mac}: failed profile without a detail");
            Assert.Equal(mac.Agent.Identity.Serial, Text(host["details"], "serial"));
        }

        Assert.Contains("MCProfileErrorDomain", Text(Profile(settled[^1].Host, Firewall), "detail"), StringComparison.Ordinal);
        Assert.Equal(["14.1.2", "15.1"], settled.Select(s => Text(s.Host["details"], "os_version")!).Distinct().Order().ToArray());
        await ExpectSummaryAsync(team, verified: 10, verifying: 0, pending: 0, failed: 2);
    }

    private static Func<MacCommand, MacAnswer> ScriptFor(string name) => name.Split(' ')[0] switch
    {
        "not-now" => c => c.Session <= 2 ? MacAnswer.NotNow : MacAnswer.Acknowledged,
        "error" => _ => MacAnswer.Error,
        _ => _ => MacAnswer.Acknowledged,
    };

    /// <summary>
    /// Plays the Mac until its refetch is terminal and its profiles settled: a session after every push,
    /// osquery once the first session is over. An asleep Mac only watches. Returns the host and when it settled.
    /// </summary>
    private async Task<(JsonObject Host, DateTimeOffset At)> DriveUntilSettledAsync(HttpTestMac mac, DateTimeOffset limit)
    {
        var asleep = mac.Name.StartsWith("asleep", StringComparison.Ordinal);
        var osqueryDone = false;
        while (true)
        {
            if (!asleep && mac.PushWaiting)
            {
                await mac.SessionAsync();
            }

            if (!asleep && !osqueryDone && mac.Sessions > 0)
            {
                osqueryDone = (await mac.CheckInOsqueryAsync()).Count > 0;
            }

            var host = await _operator.GetHostAsync(mac.HostId);
            var now = DateTimeOffset.UtcNow;
            if (Settled(host))
            {
                return (host, now);
            }

            Assert.True(now <= limit, $"{mac}: not settled by {limit:O}: refetch {Show(host["refetch"])}, profiles {Show(host["profiles"])}");
            await Task.Delay(TimeSpan.FromMilliseconds(25), TestAborted);
        }
    }

    private static bool Settled(JsonObject host) =>
        Text(host["refetch"], "status") is "verified" or "failed"
        && host["profiles"]!.AsArray().All(p => Text(p, "status") is "verified" or "failed");

    private async Task<HttpTestMac> EnrolledMacAsync(AgentProfile profile, string name)
    {
        var mac = new HttpTestMac(_device, profile, name);
        await mac.EnrollAsync();

        return mac;
    }

    private static string NewTeam() => "mac-" + Guid.NewGuid().ToString("N")[..12];

    private async Task<string> TeamWithAsync(params (string Identifier, string DisplayName, string Checksum)[] profiles)
    {
        var team = NewTeam();
        foreach (var (identifier, displayName, checksum) in profiles)
        {
            await DeclareAsync(team, identifier, displayName, checksum);
        }

        return team;
    }

    private async Task DeclareAsync(string team, string identifier, string displayName, string checksum)
    {
        var body = new JsonObject { ["display_name"] = displayName, ["checksum"] = checksum };
        using var response = await _operator.PutAsync(
            $"/api/v1/configuration_profiles/{identifier}?team_id={team}", Json(body), TestAborted);
        await ExpectStatusAsync(response, HttpStatusCode.OK, $"declare {identifier} in team {team}");
    }

    private async Task DeleteAsync(string team, string identifier)
    {
        using var response = await _operator.DeleteAsync($"/api/v1/configuration_profiles/{identifier}?team_id={team}", TestAborted);
        await ExpectStatusAsync(response, HttpStatusCode.NoContent, $"delete {identifier} from team {team}");
    }

    private async Task JoinAsync(HttpTestMac mac, string team)
    {
        using var response = await _operator.PutAsync($"/api/v1/hosts/{mac.HostId}/team", Json(new JsonObject { ["team_id"] = team }), TestAborted);
        await ExpectStatusAsync(response, HttpStatusCode.OK, $"move {mac} to team {team}");
    }

    private async Task<JsonObject> RefetchAsync(HttpTestMac mac)
    {
        using var response = await _operator.RefetchAsync(mac.HostId);

        return await ExpectStatusAsync(response, HttpStatusCode.Accepted, $"refetch of {mac}");
    }

    private Task<JsonObject> WaitForProfilesAsync(HttpTestMac mac, Func<JsonArray, bool> done, string what) =>
        EventuallyAsync(() => _operator.GetHostAsync(mac.HostId), h => done(h["profiles"]!.AsArray()), $"{mac}: {what}", s_wait);

    private async Task<JsonNode> WaitForProfileAsync(HttpTestMac mac, string identifier, Func<JsonNode, bool> done, string what)
    {
        // A profile step waits for its deadline: the pending timeout or the missing grace, then a timer tick.
        var timeout = MacScenarioFixture.PendingTimeout + MacScenarioFixture.MissingGrace + TimerSlack;
        var host = await EventuallyAsync(
            () => _operator.GetHostAsync(mac.HostId),
            h => Profile(h, identifier) is { } p && done(p),
            $"{mac}: profile {identifier} {what}",
            timeout);

        return Profile(host, identifier)!;
    }

    private async Task ExpectSummaryAsync(string team, int verified, int verifying, int pending, int failed)
    {
        var expected = new JsonObject { ["verified"] = verified, ["verifying"] = verifying, ["pending"] = pending, ["failed"] = failed };
        await EventuallyAsync(
            async () =>
            {
                using var response = await _operator.GetAsync($"/api/v1/configuration_profiles/summary?team_id={team}", TestAborted);
                return await ExpectStatusAsync(response, HttpStatusCode.OK, $"summary of team {team}");
            },
            summary => JsonNode.DeepEquals(summary, expected),
            $"team {team}: summary {expected.ToJsonString()}");
    }

    private static JsonNode? Profile(JsonObject host, string identifier) =>
        host["profiles"]!.AsArray().SingleOrDefault(p => Text(p, "identifier") == identifier);

    private static JsonNode ExpectRefetch(JsonObject host, int epoch, string status)
    {
        var refetch = host["refetch"];
        Assert.True(Int(refetch, "epoch") == epoch && Text(refetch, "status") == status,
            $"host {Text(host, "host_id")}: expected refetch epoch {epoch} {status}, got {Show(refetch)}");

        return refetch!;
    }

    private static JsonNode ExpectProfile(JsonObject host, string identifier, string operation, string status, int attempt)
    {
        var profile = Profile(host, identifier);
        Assert.True(
            Text(profile, "operation") == operation && Text(profile, "status") == status && Int(profile, "attempt") == attempt,
            $"host {Text(host, "host_id")}: expected profile {identifier} {operation} {status} attempt {attempt}, got {Show(profile)}");

        return profile!;
    }

    private static void ExpectHistory(HttpTestMac mac, JsonNode profile, params (string From, string To)[] expected)
    {
        var history = profile["history"]!.AsArray().Select(t => (Text(t, "from")!, Text(t, "to")!)).ToArray();
        Assert.True(history.SequenceEqual(expected),
            $"{mac}: profile {Text(profile, "identifier")} history [{string.Join(", ", history)}], expected [{string.Join(", ", expected)}]");
    }

    /// <summary>Checks the MDM view: queued commands, whether a re-push is scheduled (null: either), and no push failure.</summary>
    private static void ExpectMdm(JsonObject host, HttpTestMac mac, int queued, bool? nextPush)
    {
        var mdm = host["mdm"];
        var scheduled = Text(mdm, "next_push_at") is not null;
        Assert.True(
            Int(mdm, "queued_commands") == queued && (nextPush is null || scheduled == nextPush) && mdm?["push_failure"] is null,
            $"{mac}: expected {queued} queued commands, next push {nextPush?.ToString() ?? "either"}, no push failure; got {Show(mdm)}");
    }

    private static DateTimeOffset Later(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");
}
