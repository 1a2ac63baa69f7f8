using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;
using Fleet.Tests.Api;
using Fleet.Tests.Hosts;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Identity;

/// <summary>
/// Issue 4 at grain level, on the test cluster over Azurite with <see cref="IdentityClusterFixture"/>'s
/// seconds-long renewal settings: expiry failing MDM work at once (case 3), renewal through NotNow and the
/// overlap (case 4), unanswered and failed renewals retried (case 5), and another host's certificate (case 6).
/// The Macs run macOS 14, whose MDM refetch deadline (5 minutes) never passes during a test.
/// </summary>
public sealed class HostIdentityTests(IdentityClusterFixture fixture) : IClassFixture<IdentityClusterFixture>
{
    private const string Firewall = "com.example.firewall";

    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(15);

    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_mac14 = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "14.1.2" },
    };

    private IHostGrain Host(string hostId) => fixture.Grains.GetGrain<IHostGrain>(hostId);

    private async Task<HostView> ViewAsync(string hostId) => (await Host(hostId).GetAsync())!;

    /// <summary>A Mac known to osquery and enrolled in MDM with an identity valid until <paramref name="notAfter"/> (a year by default).</summary>
    private async Task<TestMdmDevice> MacAsync(DateTimeOffset? notAfter = null)
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        await Host(hostId).EnrollAsync(new EnrollRequest(s_mac14));
        var device = new TestMdmDevice(() => Host(hostId), hostId, TestMdmDevice.Mac("14.1.2"));
        if (notAfter is { } at)
        {
            device.Present(TestPki.Identity(hostId, notAfter: at));
        }

        await device.EnrollAsync();

        return device;
    }

    private Task<HostView> EventuallyAsync(string hostId, Func<HostView, bool> done, string what) =>
        ApiTestKit.EventuallyAsync(
            () => ViewAsync(hostId),
            done,
            $"host {hostId}: {what}",
            s_wait,
            view => $"identity {view.Identity?.State}, renewal {view.Identity?.Renewal}, steps [{Steps(view)}]");

    private static string Steps(HostView view) => string.Join(", ", view.Identity?.History.Select(e => e.Step) ?? []);

    private static string Instant(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    [Fact]
    public async Task ExpiredCertificateReported_FailsThePendingRefetchAndProfileInstallsAtOnce_AndTheViewSaysWhy()
    {
        var device = await MacAsync(DateTimeOffset.UtcNow.AddHours(1));
        var teamId = "team-" + Guid.NewGuid().ToString("N")[..12];
        await fixture.Grains.GetGrain<ITeamGrain>(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        Assert.True(await Host(device.Udid).SetTeamAsync(teamId));
        var requested = (await Host(device.Udid).RequestRefetchAsync()).Refetch!;
        var pending = await ViewAsync(device.Udid);

        var verdict = await Host(device.Udid).MdmCertificateExpiredAsync(device.Certificate!);
        var expired = await ViewAsync(device.Udid);
        var again = await Host(device.Udid).MdmCertificateExpiredAsync(device.Certificate!);
        var late = await device.IdleAsync();

        var reason = new Reason(ReasonCodes.IdentityExpired, $"identity certificate expired at {Instant(device.Certificate!.NotAfter)}");
        Assert.Equal(RefetchStatus.Pending, pending.Refetch!.Mdm!.Status);
        Assert.Equal(ProfileStatus.Pending, Assert.Single(pending.Profiles).Status);
        Assert.Equal(IdentityState.Renewing, pending.Identity!.State);
        Assert.Equal(4, pending.Mdm!.QueuedCommands);
        Assert.Equal(IdentityVerdict.Expired, verdict);
        Assert.Equal(RefetchStatus.Failed, expired.Refetch!.Status);
        Assert.Equal(reason, expired.Refetch.Reason);
        Assert.Equal(reason, expired.Refetch.Mdm!.Reason);
        Assert.True(expired.Refetch.CompletedAt < requested.Mdm!.Deadline - TimeSpan.FromMinutes(4),
            $"host {device.Udid}: failed at {expired.Refetch.CompletedAt:O}, MDM deadline {requested.Mdm.Deadline:O}");
        var profile = Assert.Single(expired.Profiles);
        Assert.Equal(ProfileStatus.Failed, profile.Status);
        Assert.StartsWith(reason.Message, profile.Detail, StringComparison.Ordinal);
        Assert.Equal(0, expired.Mdm!.QueuedCommands);
        Assert.Equal((IdentityState.Expired, reason), (expired.Identity!.State, expired.Identity.Reason));
        Assert.Null(expired.Identity.Renewal);
        Assert.Equal("recorded, renewal_queued, expired", Steps(expired));
        Assert.Equal(IdentityVerdict.Expired, again);
        Assert.Equal(new MdmReportResult(null, $"Identity certificate refused (expired): {reason.Message}.", IdentityVerdict.Expired), late);
        Assert.Equal(expired.Revision, (await ViewAsync(device.Udid)).Revision);
    }

    [Fact]
    public async Task CertificateOfASilentDevice_ExpiresAtItsNotAfter_AndFailsThePendingRefetchThen()
    {
        var device = await MacAsync(DateTimeOffset.UtcNow.AddSeconds(4));
        var notAfter = device.Certificate!.NotAfter;
        var requested = (await Host(device.Udid).RequestRefetchAsync()).Refetch!;

        var failed = await HostGrainTests.WaitForTerminalAsync(Host(device.Udid), s_wait);

        Assert.Equal(RefetchStatus.Failed, failed.Refetch!.Status);
        Assert.Equal(new Reason(ReasonCodes.IdentityExpired, $"identity certificate expired at {Instant(notAfter)}"), failed.Refetch.Reason);
        var lateness = failed.Refetch.CompletedAt!.Value - notAfter;
        Assert.True(lateness >= TimeSpan.Zero && lateness < TimeSpan.FromSeconds(2),
            $"host {device.Udid}: failed {lateness.TotalMilliseconds:F0} ms after its certificate's not-after");
        Assert.True(requested.Mdm!.Deadline - failed.Refetch.CompletedAt > TimeSpan.FromMinutes(4),
            $"host {device.Udid}: failed at {failed.Refetch.CompletedAt:O}, MDM deadline {requested.Mdm.Deadline:O}");
        Assert.Equal(IdentityState.Expired, failed.Identity!.State);
        Assert.Equal(0, failed.Mdm!.QueuedCommands);
    }

    [Fact]
    public async Task Renewal_NotNowTwiceThenAcknowledged_RecordsThePresentedCertificate_AndTheOldOneWorksUntilTheOverlapEnds()
    {
        var device = await MacAsync(DateTimeOffset.UtcNow.AddDays(10));
        var old = device.Identity!;
        var queued = await ViewAsync(device.Udid);
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 1, s_wait);

        var first = (await device.IdleAsync()).Next!;
        var afterFirst = await device.AnswerAsync(first.CommandUuid, MdmResultStatus.NotNow);
        var second = (await device.IdleAsync()).Next!;
        await device.AnswerAsync(second.CommandUuid, MdmResultStatus.NotNow);
        var third = (await device.IdleAsync()).Next!;
        var acknowledged = await device.AnswerAsync(third.CommandUuid, MdmResultStatus.Acknowledged);
        var installed = await ViewAsync(device.Udid);
        var renewed = device.Install(third.Identity!);
        var presented = await device.IdleAsync();
        var recorded = await ViewAsync(device.Udid);
        device.Present(old);
        var oldDuringOverlap = await device.IdleAsync();
        await Task.Delay(recorded.Identity!.PreviousAcceptedUntil!.Value - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
        var oldAfterOverlap = await device.IdleAsync();
        device.Present(renewed);
        var final = await ViewAsync(device.Udid);

        Assert.Equal(new RenewalView(RenewalStatus.Queued, 1, first.CommandUuid, queued.Identity!.Renewal!.Deadline, null, null), queued.Identity.Renewal);
        Assert.Equal(IdentityState.Renewing, queued.Identity.State);
        Assert.All(new[] { first, second, third }, c => Assert.Equal((MdmCommandKind.RenewIdentity, first.CommandUuid), (c.Kind, c.CommandUuid)));
        Assert.Equal(3, new[] { first, second, third }.Select(c => c.Identity!.Certificate.Thumbprint).Distinct().Count());
        Assert.Equal($"CN={device.Udid}", third.Identity!.Certificate.Subject);
        Assert.Null(afterFirst.Next);
        Assert.Equal(new MdmReportResult(null), acknowledged);
        Assert.Equal(RenewalStatus.Installed, installed.Identity!.Renewal!.Status);
        Assert.Equal(new MdmReportResult(null), presented);
        Assert.Equal(
            (renewed.SerialNumber, old.SerialNumber, IdentityState.Valid),
            (recorded.Identity.SerialNumber, recorded.Identity.PreviousSerialNumber, recorded.Identity.State));
        Assert.Null(recorded.Identity.Renewal);
        Assert.Equal(new MdmReportResult(null), oldDuringOverlap);
        Assert.Equal(IdentityVerdict.Unrecognised, oldAfterOverlap.Identity);
        Assert.Contains("its overlap ended at", oldAfterOverlap.Problem, StringComparison.Ordinal);
        Assert.Equal(recorded.Revision, final.Revision);
        Assert.Equal("recorded, renewal_queued, issued, not_now, issued, not_now, issued, installed, renewed", Steps(final));
    }

    [Fact]
    public async Task Renewal_NeverAnswered_IsDroppedAtItsDeadlineAndRetriedAsANewCommand_AndAnErrorIsRetriedToo()
    {
        var device = await MacAsync(DateTimeOffset.UtcNow.AddDays(10));
        var first = (await device.IdleAsync()).Next!;

        var retried = await EventuallyAsync(device.Udid, v => v.Identity?.Renewal is { Attempt: 2, Status: RenewalStatus.Queued }, "renewal attempt 2 queued");
        var lateAnswer = await device.AnswerAsync(first.CommandUuid, MdmResultStatus.Acknowledged);
        var second = lateAnswer.Next!;
        var afterError = await device.AnswerAsync(second.CommandUuid, MdmResultStatus.Error, [new MdmError(12021, "MCMDMErrorDomain", "Busy")]);
        var waiting = await ViewAsync(device.Udid);
        var third = await EventuallyAsync(device.Udid, v => v.Identity?.Renewal is { Attempt: 3, Status: RenewalStatus.Queued }, "renewal attempt 3 queued");

        var history = retried.Identity!.History;
        var dropped = history.Single(e => e.Step == "retry_scheduled");
        var requeued = history.Single(e => e.Step == "renewal_retried");
        var queuedAt = history.Single(e => e.Step == "renewal_queued").At;
        Assert.Equal(MdmCommandKind.RenewIdentity, first.Kind);
        Assert.Equal(ReasonCodes.MdmNoAck, retried.Identity.Renewal!.LastFailure!.Code);
        Assert.NotEqual(first.CommandUuid, retried.Identity.Renewal.CommandUuid);
        Assert.True(dropped.At - queuedAt >= IdentityClusterFixture.Timeout, $"host {device.Udid}: dropped {(dropped.At - queuedAt).TotalMilliseconds:F0} ms after queueing");
        Assert.True(requeued.At - dropped.At >= IdentityClusterFixture.RetryBackoff, $"host {device.Udid}: retried {(requeued.At - dropped.At).TotalMilliseconds:F0} ms after dropping");
        Assert.Equal(1, retried.Mdm!.QueuedCommands);
        Assert.Equal($"Unknown command {first.CommandUuid}: this host has no such command queued.", lateAnswer.Problem);
        Assert.Equal((MdmCommandKind.RenewIdentity, retried.Identity.Renewal.CommandUuid), (second.Kind, second.CommandUuid));
        Assert.Null(afterError.Problem);
        Assert.Equal(RenewalStatus.WaitingRetry, waiting.Identity!.Renewal!.Status);
        Assert.Equal(ReasonCodes.MdmError, waiting.Identity.Renewal.LastFailure!.Code);
        Assert.Equal(0, waiting.Mdm!.QueuedCommands);
        Assert.NotEqual(second.CommandUuid, third.Identity!.Renewal!.CommandUuid);
        Assert.Equal(ReasonCodes.MdmError, third.Identity.Renewal.LastFailure!.Code);
    }

    [Fact]
    public async Task AnotherHostsCertificate_IsForeignAtAuthenticateAndOnReports_AndNeitherHostChanges()
    {
        var a = await MacAsync();
        var b = await MacAsync();
        var stranger = new TestMdmDevice(() => Host("0F0E0D0C-0B0A-4908-8706-050403020100"), "0F0E0D0C-0B0A-4908-8706-050403020100", TestMdmDevice.Mac("14.1.2"))
            .Present(b.Identity);
        var beforeA = await ViewAsync(a.Udid);
        var beforeB = await ViewAsync(b.Udid);
        a.Present(b.Identity);

        var authenticate = await a.AuthenticateAsync();
        var tokenUpdate = await a.TokenUpdateAsync();
        var report = await a.IdleAsync();
        var strangerAuthenticate = await stranger.AuthenticateAsync();
        var afterA = await ViewAsync(a.Udid);
        var afterB = await ViewAsync(b.Udid);

        var problem = $"Identity certificate refused (foreign): certificate serial {b.Certificate!.SerialNumber} belongs to host {b.Udid}.";
        Assert.Equal(new MdmCheckInResult(false, problem, IdentityVerdict.Foreign), authenticate);
        Assert.Equal(new MdmCheckInResult(false, problem, IdentityVerdict.Foreign), tokenUpdate);
        Assert.Equal(new MdmReportResult(null, problem, IdentityVerdict.Foreign), report);
        Assert.Equal(IdentityVerdict.Foreign, strangerAuthenticate.Identity);
        Assert.Null(await Host(stranger.Udid).GetAsync());
        foreach (var (before, after) in new[] { (beforeA, afterA), (beforeB, afterB) })
        {
            Assert.True(before.Revision == after.Revision, $"host {before.HostId}: revision {before.Revision} -> {after.Revision}");
            Assert.Equal(before.LastSeenAt, after.LastSeenAt);
            Assert.Equal(before.Mdm, after.Mdm);
            Assert.Equal(before.Identity!.Thumbprint, after.Identity!.Thumbprint);
            Assert.Equal(before.Identity.History.Count, after.Identity.History.Count);
        }

        Assert.NotEqual(afterA.Identity!.Thumbprint, afterB.Identity!.Thumbprint);
    }

    [Fact]
    public async Task RequestsWithoutACertificate_AreUnrecognisedAndChangeNothing()
    {
        var device = await MacAsync();
        var before = await ViewAsync(device.Udid);
        device.Present(null);

        var report = await device.IdleAsync();
        var authenticate = await device.AuthenticateAsync();
        var after = await ViewAsync(device.Udid);

        Assert.Equal(
            new MdmReportResult(null, "Identity certificate refused (unrecognised): the request came without an identity certificate.", IdentityVerdict.Unrecognised),
            report);
        Assert.Equal(
            new MdmCheckInResult(false, "Identity certificate refused (unrecognised): Authenticate came without an identity certificate.", IdentityVerdict.Unrecognised),
            authenticate);
        Assert.Equal((before.Revision, before.LastSeenAt), (after.Revision, after.LastSeenAt));
    }

    [Fact]
    public async Task ReAuthenticate_WithANewCertificate_ReplacesTheRecordedOne_WhichIsThenUnrecognised()
    {
        var device = await MacAsync();
        var old = device.Identity!;
        var replacement = TestPki.Identity(device.Udid);

        device.Present(replacement);
        await device.EnrollAsync();
        var view = await ViewAsync(device.Udid);
        device.Present(old);
        var oldReport = await device.IdleAsync();

        Assert.Equal((replacement.SerialNumber, IdentityState.Valid), (view.Identity!.SerialNumber, view.Identity.State));
        Assert.Null(view.Identity.PreviousSerialNumber);
        Assert.Equal("recorded, recorded", Steps(view));
        Assert.Equal(IdentityVerdict.Unrecognised, oldReport.Identity);
        Assert.Equal(
            $"Identity certificate refused (unrecognised): certificate serial {old.SerialNumber} is not the certificate recorded for this host " +
            $"at Authenticate or at its last renewal (serial {replacement.SerialNumber}).",
            oldReport.Problem);
    }

    [Fact]
    public async Task ReAuthenticate_WithTheReplacedOlderCertificate_IsUnrecognised_AndTheCurrentOneKeepsWorking()
    {
        var device = await MacAsync();
        var retired = device.Identity!;
        var current = TestPki.Identity(device.Udid, notBefore: DateTimeOffset.UtcNow.AddMinutes(-1));
        device.Present(current);
        await device.EnrollAsync();
        var before = await ViewAsync(device.Udid);

        device.Present(retired);
        var comeback = await device.AuthenticateAsync();
        var after = await ViewAsync(device.Udid);
        device.Present(current);
        var stillWorks = await device.IdleAsync();

        Assert.Equal((false, IdentityVerdict.Unrecognised), (comeback.Accepted, comeback.Identity));
        Assert.Equal(
            $"Identity certificate refused (unrecognised): Authenticate came with certificate serial {retired.SerialNumber}, issued before " +
            $"the recorded one (serial {current.SerialNumber}); a replaced certificate cannot enroll again.",
            comeback.Problem);
        Assert.Equal((before.Revision, current.SerialNumber), (after.Revision, after.Identity!.SerialNumber));
        Assert.Equal(IdentityVerdict.Accepted, stillWorks.Identity);
    }
}
