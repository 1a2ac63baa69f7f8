using Fleet.Contracts;
using Fleet.Grains.Index;
using Fleet.Grains.Mdm;
using Fleet.Tests.Infrastructure;
using Orleans.Core.Internal;
using Orleans.Runtime;
using Orleans.TestingHost;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Hosts;

/// <summary>
/// The MDM command channel of the host grain on the test cluster (Azurite storage), with the recording
/// <see cref="TestPushSender"/>. Timings come from <see cref="FleetTestCluster.DefaultSettings"/>: re-pushes
/// start 300 ms apart, the MDM part of a macOS 13 (<c>darwin</c>) refetch times out after 2 s, macOS 14 never
/// times out during a test.
/// </summary>
public sealed class HostGrainMdmTests(ClusterFixture fixture)
{
    private static readonly TimeSpan s_repushBackoff = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);
    private static readonly string[] s_required = ["os_version", "osquery_info", "system_info", "uptime"];

    private IHostGrain Host(string hostId) => fixture.Grains.GetGrain<IHostGrain>(hostId);

    private static Dictionary<string, IReadOnlyDictionary<string, string>> OsqueryDetails(string platform, string version) => new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = platform, ["version"] = version },
    };

    /// <summary>A host enrolled through osquery; returns its id and node secret.</summary>
    private async Task<(string HostId, string Secret)> OsqueryHostAsync(string platform, string osVersion)
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var key = (await Host(hostId).EnrollAsync(new EnrollRequest(OsqueryDetails(platform, osVersion)))).NodeKey;

        return (hostId, key[(key.IndexOf(':', StringComparison.Ordinal) + 1)..]);
    }

    /// <summary>A Mac known to osquery (its node secret returned) and enrolled in MDM with a push token.</summary>
    private async Task<(TestMdmDevice Device, string Secret)> EnrolledMacAsync(string osVersion)
    {
        var (hostId, secret) = await OsqueryHostAsync("darwin", osVersion);
        var device = new TestMdmDevice(() => Host(hostId), hostId, TestMdmDevice.Mac(osVersion));
        await device.EnrollAsync();

        return (device, secret);
    }

    private async Task AnswerOsqueryAsync(string hostId, string secret)
    {
        var read = await Host(hostId).ReadAsync(secret);
        Assert.NotEmpty(read.Queries);
        var answers = new DetailResults(
            s_required.ToDictionary(n => n, IReadOnlyList<IReadOnlyDictionary<string, string>> (_) => [new Dictionary<string, string> { ["version"] = "14.1.2" }]),
            s_required.ToDictionary(n => n, _ => 0),
            new Dictionary<string, string>());
        Assert.True(await Host(hostId).WriteAsync(secret, answers));
    }

    private async Task<HostView> ViewAsync(string hostId) => (await Host(hostId).GetAsync())!;

    [Fact]
    public async Task MacRefetch_NeedsBothTheOsqueryResultsAndTheMdmAcknowledgement()
    {
        var (device, secret) = await EnrolledMacAsync("14.1.2");

        var requested = (await Host(device.Udid).RequestRefetchAsync()).Refetch!;
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 1, s_wait);
        var handedOut = (await device.IdleAsync()).Next!;
        var afterAck = await device.AnswerAsync(handedOut.CommandUuid, MdmResultStatus.Acknowledged);
        var waitingForOsquery = await ViewAsync(device.Udid);
        Assert.Null((await device.AnswerAsync(afterAck.Next!.CommandUuid, MdmResultStatus.Acknowledged)).Next);
        await AnswerOsqueryAsync(device.Udid, secret);
        var done = await ViewAsync(device.Udid);

        Assert.Equal(RefetchStatus.Pending, requested.Mdm!.Status);
        Assert.Equal(RefetchStatus.Pending, requested.Osquery!.Status);
        Assert.Equal(new MdmCommand(requested.Mdm.CommandUuid!, MdmCommandKind.DeviceInformation), handedOut);
        Assert.Equal(MdmCommandKind.ProfileList, afterAck.Next!.Kind);
        Assert.Null(afterAck.Problem);
        Assert.True(waitingForOsquery.Refetch!.Status == RefetchStatus.Verifying,
            $"host {device.Udid}: MDM acknowledged, osquery still owed, expected verifying, was {waitingForOsquery.Refetch.Status}");
        Assert.Equal(RefetchStatus.Verified, waitingForOsquery.Refetch.Mdm!.Status);
        Assert.Equal(RefetchStatus.Verified, done.Refetch!.Status);
        Assert.Equal("23B92", done.Details.OsBuild);
        Assert.Equal(0, done.Mdm!.QueuedCommands);
        Assert.Null(done.Mdm.NextPushAt);
    }

    [Fact]
    public async Task NotNowThreeTimesThenAcknowledged_Verifies_WithRepushesSpacedByBackoff()
    {
        var (device, secret) = await EnrolledMacAsync("14.1.2");
        await Host(device.Udid).RequestRefetchAsync();
        await AnswerOsqueryAsync(device.Udid, secret);
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 1, s_wait);
        var answeredAt = new List<DateTimeOffset>();
        var scheduled = new List<DateTimeOffset?>();

        for (var notNow = 1; notNow <= 3; notNow++)
        {
            var command = (await device.IdleAsync()).Next!;
            Assert.Equal(MdmCommandKind.DeviceInformation, command.Kind);
            answeredAt.Add(DateTimeOffset.UtcNow);
            var next = (await device.AnswerAsync(command.CommandUuid, MdmResultStatus.NotNow)).Next;
            if (next is { Kind: MdmCommandKind.ProfileList })
            {
                next = (await device.AnswerAsync(next.CommandUuid, MdmResultStatus.Acknowledged)).Next;
            }

            Assert.True(next is null, $"host {device.Udid}: NotNow'd command offered again in the same session ({next})");
            scheduled.Add((await ViewAsync(device.Udid)).Mdm!.NextPushAt);
            await TestPushSender.Shared.WaitForPushesAsync(device.Token, TestPushSender.Shared.PushesTo(device.Token).Count + 1, s_wait);
        }

        var last = (await device.IdleAsync()).Next!;
        Assert.Null((await device.AnswerAsync(last.CommandUuid, MdmResultStatus.Acknowledged)).Next);
        var verified = await ViewAsync(device.Udid);
        var pushes = TestPushSender.Shared.PushesTo(device.Token);

        Assert.Equal(RefetchStatus.Verified, verified.Refetch!.Status);
        Assert.Null(verified.Mdm!.NextPushAt);
        for (var i = 0; i < 3; i++)
        {
            // After the n-th NotNow the server schedules the re-push RepushBackoff × 2^(n−1) after that report,
            // and the push comes. (A push scheduled before the session may fire while it runs; the spacing
            // below still holds for it.)
            Assert.True(scheduled[i] is { } at && at - answeredAt[i] >= s_repushBackoff * Math.Pow(2, i),
                $"host {device.Udid}: after NotNow {i + 1} the re-push was scheduled {(scheduled[i] - answeredAt[i])?.TotalMilliseconds:F0} ms later");
            Assert.Contains(pushes, p => p >= scheduled[i]!.Value - TimeSpan.FromMilliseconds(20));
        }

        // No tight loop: no two pushes closer than the re-push backoff.
        var gaps = pushes.Zip(pushes.Skip(1), (a, b) => b - a);
        Assert.All(gaps, g => Assert.True(g >= s_repushBackoff - TimeSpan.FromMilliseconds(20), $"host {device.Udid}: pushes {g.TotalMilliseconds:F0} ms apart"));
    }

    [Fact]
    public async Task NotNow_ThenAnotherCommandAnsweredInTheSameSession_IsOfferedInALaterSessionAndCompletes()
    {
        var (device, secret) = await EnrolledMacAsync("14.1.2");
        await Host(device.Udid).RequestRefetchAsync();
        await AnswerOsqueryAsync(device.Udid, secret);
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 1, s_wait);

        var a = (await device.IdleAsync()).Next!;
        var b = (await device.AnswerAsync(a.CommandUuid, MdmResultStatus.NotNow)).Next!;
        var afterB = await device.AnswerAsync(b.CommandUuid, MdmResultStatus.Acknowledged);
        var pending = await ViewAsync(device.Udid);
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 2, s_wait);
        var again = (await device.IdleAsync()).Next!;
        var afterA = await device.AnswerAsync(again.CommandUuid, MdmResultStatus.Acknowledged);
        var done = await ViewAsync(device.Udid);

        Assert.Equal(MdmCommandKind.DeviceInformation, a.Kind);
        Assert.Equal(MdmCommandKind.ProfileList, b.Kind);
        Assert.Null(afterB.Next);
        Assert.Equal(1, pending.Mdm!.QueuedCommands);
        Assert.NotNull(pending.Mdm.NextPushAt);
        Assert.Equal(a, again);
        Assert.Null(afterA.Next);
        Assert.Equal(RefetchStatus.Verified, done.Refetch!.Status);
    }

    [Fact]
    public async Task ExpiredPushCertificate_ShowsPushFailedWhilePendingAndFailsAtTheDeadlineWithIt()
    {
        const string expired = "The push certificate expired at 2026-01-01T00:00:00Z; renew it to reach devices.";
        var (device, _) = await EnrolledMacAsync("13.6.2");
        TestPushSender.Shared.FailFor(device.Token, PushFailureKind.CertificateExpired, expired);

        var requested = (await Host(device.Udid).RequestRefetchAsync()).Refetch!;
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 1, s_wait);
        var pending = await ViewAsync(device.Udid);
        var failed = await HostGrainTests.WaitForTerminalAsync(Host(device.Udid), s_wait);

        Assert.Equal("darwin", requested.Policy);
        Assert.Equal(RefetchStatus.Pending, pending.Refetch!.Status);
        Assert.Equal(new Reason(ReasonCodes.PushFailed, expired), pending.Mdm!.PushFailure);
        Assert.Equal("certificate_expired", pending.Mdm.PushFailureKind);
        Assert.Equal(RefetchStatus.Failed, failed.Refetch!.Status);
        Assert.Equal(new Reason(ReasonCodes.PushFailed, expired), failed.Refetch.Reason);
        Assert.Equal(2, failed.Refetch.Mdm!.Attempt);

        // Attempt 1: 2 s. Attempt 2: 2 s + 0.5 s backoff. Timers fire within a second of each deadline.
        var lateness = failed.Refetch.CompletedAt!.Value - (requested.RequestedAt + TimeSpan.FromSeconds(4.5));
        Assert.True(lateness >= TimeSpan.Zero && lateness < TimeSpan.FromSeconds(2),
            $"host {device.Udid}: failed {lateness.TotalMilliseconds:F0} ms after its final MDM deadline");
        Assert.Equal(0, failed.Mdm!.QueuedCommands);
    }

    [Fact]
    public async Task TwoRefetchesAtOnce_StartOneEpochAndQueueOneDeviceInformation()
    {
        var (device, _) = await EnrolledMacAsync("14.1.2");

        var both = await Task.WhenAll(Host(device.Udid).RequestRefetchAsync(), Host(device.Udid).RequestRefetchAsync());
        var queued = (await ViewAsync(device.Udid)).Mdm!.QueuedCommands;
        var first = (await device.IdleAsync()).Next!;
        var second = (await device.AnswerAsync(first.CommandUuid, MdmResultStatus.Acknowledged)).Next!;
        var third = (await device.AnswerAsync(second.CommandUuid, MdmResultStatus.Acknowledged)).Next;

        Assert.Equal([RefetchOutcome.Started, RefetchOutcome.AlreadyInFlight], both.Select(r => r.Outcome).Order());
        Assert.Equal(both[0].Refetch!.Epoch, both[1].Refetch!.Epoch);
        Assert.Equal(2, queued);
        Assert.Equal(MdmCommandKind.DeviceInformation, first.Kind);
        Assert.Equal(MdmCommandKind.ProfileList, second.Kind);
        Assert.Null(third);
    }

    [Fact]
    public async Task LinuxRefetch_NeedsOsqueryAlone()
    {
        var (hostId, secret) = await OsqueryHostAsync("ubuntu", "22.04.1 LTS");

        var requested = (await Host(hostId).RequestRefetchAsync()).Refetch!;
        await AnswerOsqueryAsync(hostId, secret);
        var view = await ViewAsync(hostId);

        Assert.Equal("linux", requested.Policy);
        Assert.Null(requested.Mdm);
        Assert.Null(requested.Note);
        Assert.Equal(RefetchStatus.Pending, requested.Osquery!.Status);
        Assert.Equal(RefetchStatus.Verified, view.Refetch!.Status);
        Assert.Null(view.Mdm);
    }

    [Fact]
    public async Task MacWithoutMdm_IsVerifiedByOsqueryAloneAndSaysSo()
    {
        var (hostId, secret) = await OsqueryHostAsync("darwin", "14.1.2");

        var requested = (await Host(hostId).RequestRefetchAsync()).Refetch!;
        await AnswerOsqueryAsync(hostId, secret);

        Assert.Equal("osquery only: the host is not enrolled in MDM", requested.Note);
        Assert.Null(requested.Mdm);
        Assert.Equal(RefetchStatus.Verified, (await ViewAsync(hostId)).Refetch!.Status);
    }

    [Fact]
    public async Task IPad_BecomesAKnownHostOverMdmAndIsVerifiedByMdmAlone()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var device = new TestMdmDevice(() => Host(hostId), hostId, TestMdmDevice.IPad());
        await device.EnrollAsync();

        var enrolled = await ViewAsync(hostId);
        var requested = (await Host(hostId).RequestRefetchAsync()).Refetch!;
        var command = (await device.IdleAsync()).Next!;
        await device.AnswerAsync(command.CommandUuid, MdmResultStatus.Acknowledged);
        var done = await ViewAsync(hostId);

        Assert.Equal("ipados", enrolled.Details.Platform);
        Assert.Equal("9.3.5", enrolled.Details.OsVersion);
        Assert.Equal("TESTSERIAL01", enrolled.Details.Serial);
        Assert.Equal(TestMdmDevice.Topic, enrolled.Mdm!.Topic);
        Assert.True(enrolled.Mdm.Enrolled);
        Assert.Equal("ipados", requested.Policy);
        Assert.Null(requested.Osquery);
        Assert.Equal(MdmCommandKind.DeviceInformation, command.Kind);
        Assert.Equal(RefetchStatus.Verified, done.Refetch!.Status);
    }

    [Fact]
    public async Task CheckOut_FailsTheMdmPartAtOnceAndDropsTheQueue()
    {
        var (device, _) = await EnrolledMacAsync("14.1.2");
        await Host(device.Udid).RequestRefetchAsync();

        Assert.True((await device.CheckOutAsync()).Accepted);
        var view = await ViewAsync(device.Udid);
        var late = await device.IdleAsync();

        Assert.Equal(RefetchStatus.Failed, view.Refetch!.Status);
        Assert.Equal(ReasonCodes.MdmUnenrolled, view.Refetch.Reason!.Code);
        Assert.False(view.Mdm!.Enrolled);
        Assert.NotNull(view.Mdm.CheckedOutAt);
        Assert.Equal(0, view.Mdm.QueuedCommands);
        Assert.Null(late.Next);
        Assert.NotNull(late.Problem);
    }

    [Fact]
    public async Task Reauthenticate_ForgetsOutstandingCommandsAndQueuesTheEpochsDeviceInformationAgain()
    {
        var (device, _) = await EnrolledMacAsync("14.1.2");
        var requested = (await Host(device.Udid).RequestRefetchAsync()).Refetch!;
        var old = (await device.IdleAsync()).Next!;

        await device.EnrollAsync();
        var reenrolled = await ViewAsync(device.Udid);
        var lateAck = await device.AnswerAsync(old.CommandUuid, MdmResultStatus.Acknowledged);

        Assert.Equal(requested.Epoch, reenrolled.Refetch!.Epoch);
        Assert.Equal(RefetchStatus.Pending, reenrolled.Refetch.Mdm!.Status);
        Assert.Equal(1, reenrolled.Mdm!.QueuedCommands);
        Assert.Equal($"Unknown command {old.CommandUuid}: this host has no such command queued.", lateAck.Problem);
        Assert.Equal(new MdmCommand(reenrolled.Refetch.Mdm.CommandUuid!, MdmCommandKind.DeviceInformation), lateAck.Next);
        Assert.NotEqual(old.CommandUuid, lateAck.Next!.CommandUuid);
    }

    [Fact]
    public async Task ResentResult_IsADuplicate_ThatChangesNothingAndIsNotAProblem()
    {
        var (device, _) = await EnrolledMacAsync("14.1.2");
        await Host(device.Udid).RequestRefetchAsync();
        var command = (await device.IdleAsync()).Next!;
        await device.AnswerAsync(command.CommandUuid, MdmResultStatus.Acknowledged);
        var before = await ViewAsync(device.Udid);

        var resent = await device.AnswerAsync(command.CommandUuid, MdmResultStatus.Acknowledged);
        var unknown = await device.AnswerAsync("00000000-0000-4000-8000-00000000FFFF", MdmResultStatus.Acknowledged);
        var after = await ViewAsync(device.Udid);

        Assert.Null(resent.Problem);
        Assert.Equal("Unknown command 00000000-0000-4000-8000-00000000FFFF: this host has no such command queued.", unknown.Problem);
        Assert.True(before.Revision == after.Revision, $"host {device.Udid}: a resent result wrote state ({before.Revision} -> {after.Revision})");
        Assert.Equal(before.Refetch, after.Refetch);
    }

    [Fact]
    public async Task EmptiedQueue_AfterReactivation_StillKnowsItsCompletedCommandsAndTakesNewOnes()
    {
        var (device, secret) = await EnrolledMacAsync("14.1.2");
        await Host(device.Udid).RequestRefetchAsync();
        var first = (await device.IdleAsync()).Next!;
        var profileList = (await device.AnswerAsync(first.CommandUuid, MdmResultStatus.Acknowledged)).Next!;
        Assert.Null((await device.AnswerAsync(profileList.CommandUuid, MdmResultStatus.Acknowledged)).Next);
        await AnswerOsqueryAsync(device.Udid, secret);
        var emptied = await ViewAsync(device.Udid);

        // The host stores an empty queue as nothing; once it is gone, the next message activates it from storage.
        await Host(device.Udid).Cast<IGrainManagementExtension>().DeactivateOnIdle(TestAborted);
        await EventuallyAsync(
            () => fixture.Grains.GetGrain<IManagementGrain>(0).GetGrainActivationCount((GrainReference)Host(device.Udid)),
            count => count == 0,
            $"host {device.Udid} deactivated");
        var resent = await device.AnswerAsync(first.CommandUuid, MdmResultStatus.Acknowledged);
        var second = (await Host(device.Udid).RequestRefetchAsync()).Refetch!;
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 2, s_wait);
        var offered = (await device.IdleAsync()).Next!;
        var secondProfileList = (await device.AnswerAsync(offered.CommandUuid, MdmResultStatus.Acknowledged)).Next!;
        Assert.Null((await device.AnswerAsync(secondProfileList.CommandUuid, MdmResultStatus.Acknowledged)).Next);
        await AnswerOsqueryAsync(device.Udid, secret);
        var done = await ViewAsync(device.Udid);

        Assert.Equal(RefetchStatus.Verified, emptied.Refetch!.Status);
        Assert.Equal(0, emptied.Mdm!.QueuedCommands);
        Assert.Null(resent.Problem);
        Assert.Equal(new MdmCommand(second.Mdm!.CommandUuid!, MdmCommandKind.DeviceInformation), offered);
        Assert.NotEqual(first.CommandUuid, offered.CommandUuid);
        Assert.Equal(MdmCommandKind.ProfileList, secondProfileList.Kind);
        Assert.Equal(second.Epoch, done.Refetch!.Epoch);
        Assert.Equal(RefetchStatus.Verified, done.Refetch.Status);
        Assert.Equal(0, done.Mdm!.QueuedCommands);
    }

    [Fact]
    public async Task MdmMessages_FromAHostThatNeverAuthenticated_AreRefusedAsUnrecognised()
    {
        const string problem = "Identity certificate refused (unrecognised): no identity certificate is recorded for this host.";
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var device = new TestMdmDevice(() => Host(hostId), hostId, TestMdmDevice.IPad());

        var token = await device.TokenUpdateAsync();
        var report = await device.IdleAsync();

        Assert.Equal(new MdmCheckInResult(false, problem, IdentityVerdict.Unrecognised), token);
        Assert.Equal(new MdmReportResult(null, problem, IdentityVerdict.Unrecognised), report);
        Assert.Null(await Host(hostId).GetAsync());
    }

    [Fact]
    public async Task InvalidDeviceToken_StopsRepushesUntilTheNextTokenUpdate()
    {
        var (device, _) = await EnrolledMacAsync("14.1.2");
        TestPushSender.Shared.FailFor(device.Token, PushFailureKind.InvalidDeviceToken, "The device token is no longer valid.");
        await Host(device.Udid).RequestRefetchAsync();
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 1, s_wait);

        await Task.Delay(s_repushBackoff * 4, TestContext.Current.CancellationToken);
        var silent = TestPushSender.Shared.PushesTo(device.Token).Count;
        var view = await ViewAsync(device.Udid);
        await device.TokenUpdateAsync();
        await TestPushSender.Shared.WaitForPushesAsync(device.Token, 2, s_wait);

        Assert.Equal(1, silent);
        Assert.Equal(ReasonCodes.PushFailed, view.Mdm!.PushFailure!.Code);
        Assert.Equal("invalid_device_token", view.Mdm.PushFailureKind);
        Assert.Null(view.Mdm.NextPushAt);
    }

    [Fact]
    public async Task WakeUp_IsSavedInTheIndexWhileWorkIsPending_AndTheHostHasNoReminderButItsIdentitys()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var device = new TestMdmDevice(() => Host(hostId), hostId, TestMdmDevice.IPad());
        await device.EnrollAsync();
        var silo = Assert.IsType<InProcessSiloHandle>(Assert.Single(fixture.Cluster.Silos));
        var reminders = silo.SiloHost.Services.GetRequiredService<IReminderTable>();
        var index = silo.SiloHost.Services.GetRequiredService<HostIndexStore>();
        var cancel = TestContext.Current.CancellationToken;
        var grainId = Host(hostId).GetGrainId();

        async Task<string[]> RemindersAsync() =>
            [.. (await reminders.ReadRows(grainId, cancel)).Reminders.Select(r => r.ReminderName).Order(StringComparer.Ordinal)];

        // What storage holds for the host's index row, not what the shard holds in memory.
        async Task<DateTimeOffset?> StoredWakeAsync() =>
            (await index.LoadAsync(HostIndex.ShardOf(hostId), cancel)).Single(e => e.HostId == hostId).WakeAt;

        var idle = await RemindersAsync();
        var refetch = (await Host(hostId).RequestRefetchAsync()).Refetch!;
        var pendingWake = await StoredWakeAsync();
        var pending = await RemindersAsync();
        var di = (await device.IdleAsync()).Next!;
        var profileList = (await device.AnswerAsync(di.CommandUuid, MdmResultStatus.Acknowledged)).Next!;
        await device.AnswerAsync(profileList.CommandUuid, MdmResultStatus.Acknowledged);
        var done = await RemindersAsync();

        // The cleared wake-up is saved with the shard's next batch.
        var doneWake = await Api.ApiTestKit.EventuallyAsync(StoredWakeAsync, wake => wake is null, $"host {hostId}'s stored wake-up cleared", s_wait);

        Assert.Equal(["identity"], idle);
        Assert.Equal(["identity"], pending);
        Assert.Equal(["identity"], done);
        Assert.NotNull(pendingWake);
        Assert.True(pendingWake <= refetch.Deadline, $"stored wake-up {pendingWake:O} is after the deadline {refetch.Deadline:O}");
        Assert.Null(doneWake);
        Assert.Equal(RefetchStatus.Verified, (await ViewAsync(hostId)).Refetch!.Status);
    }
}
