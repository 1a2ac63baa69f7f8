using Fleet.Contracts;
using Fleet.Grains.Profiles;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Profiles;

/// <summary>
/// The profile state machine on a fake clock. <see cref="Run"/> plays the grain: it gives every queued command
/// a UUID and keeps the queue, so that tests can answer commands the way a device does.
/// </summary>
public sealed class ProfileMachineTests
{
    private static readonly DateTimeOffset s_start = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_tick = TimeSpan.FromTicks(1);
    private static readonly DateTimeOffset s_uploadedAt = new(2026, 12, 1, 8, 30, 15, 500, TimeSpan.Zero);

    private static readonly ProfileOptions s_options = new()
    {
        PendingTimeout = TimeSpan.FromMinutes(10),
        VerifyTimeout = TimeSpan.FromMinutes(8),
        MissingGrace = TimeSpan.FromMinutes(5),
        MaxAttempts = 2,
    };

    private static readonly ProfileDeclaration s_firewall = new("com.example.firewall", "Firewall", "sha-1", s_uploadedAt);
    private static readonly ProfileDeclaration s_passcode = new("com.example.passcode", "Passcode", "sha-9", s_uploadedAt);

    private static readonly MdmError[] s_chain =
    [
        new(4001, "MCInstallationErrorDomain", "The profile could not be installed."),
        new(1009, "MCProfileErrorDomain", "The payload is malformed."),
    ];

    private readonly FakeTimeProvider _clock = new(s_start);
    private readonly Dictionary<string, ProfileCommandRequest> _queue = [];
    private readonly List<string> _dropped = [];
    private int _commands;

    private DateTimeOffset Now => _clock.GetUtcNow();

    private ProfileStep Apply(IReadOnlyList<ProfileRecord> records, ProfileEvent evt) =>
        ProfileMachine.Apply(records, evt, s_options, Now);

    private List<ProfileRecord> Run(IReadOnlyList<ProfileRecord> records, ProfileEvent evt) => Commit(Apply(records, evt));

    private List<ProfileRecord> Commit(ProfileStep step)
    {
        foreach (var uuid in step.Drop)
        {
            Assert.True(_queue.Remove(uuid), $"dropped command {uuid} was not queued");
            _dropped.Add(uuid);
        }

        var records = step.Records.ToList();
        foreach (var request in step.Enqueue)
        {
            var uuid = $"cmd-{++_commands}";
            _queue[uuid] = request;
            var index = records.FindIndex(r => r.Identifier == request.Identifier);
            records[index] = records[index] with { CommandUuid = uuid };
        }

        return records;
    }

    private static ProfileEvent.Reconcile Declare(params ProfileDeclaration[] declared) => new(declared);

    private static ProfileEvent.InstalledReported Report(params InstalledProfile[] installed) => new(installed, "osquery");

    private static InstalledProfile Seen(ProfileDeclaration declaration, DateTimeOffset? installedAt) =>
        new(declaration.Identifier, declaration.DisplayName, installedAt);

    private static ProfileEvent.DeadlinesDue Due() => new("the last push failed: the push certificate expired");

    private ProfileEvent.CommandAnswered Answer(ProfileRecord record, MdmResultStatus status, IReadOnlyList<MdmError>? chain = null)
    {
        var uuid = record.CommandUuid ?? throw new InvalidOperationException($"{record.Identifier} has no command");
        var kind = _queue[uuid].Kind;
        if (status is not MdmResultStatus.NotNow)
        {
            // A device's answer takes the command off the queue, as the command channel does.
            _queue.Remove(uuid);
        }

        return new ProfileEvent.CommandAnswered(uuid, kind, status, chain ?? []);
    }

    private static ProfileRecord Single(IReadOnlyList<ProfileRecord> records) => Assert.Single(records);

    private List<ProfileRecord> Pending() => Run([], Declare(s_firewall));

    private List<ProfileRecord> Acknowledged()
    {
        var pending = Pending();

        return Run(pending, Answer(pending[0], MdmResultStatus.Acknowledged));
    }

    private List<ProfileRecord> Verified() => Run(Acknowledged(), Report(Seen(s_firewall, Now)));

    [Fact]
    public void Declare_NewProfile_QueuesInstallProfilePendingWithDeadlineAndPush()
    {
        var step = Apply([], Declare(s_firewall));

        Assert.True(step.Changed);
        Assert.True(step.Push);
        Assert.Equal([new ProfileCommandRequest(MdmCommandKind.InstallProfile, "com.example.firewall", "Firewall", "sha-1")], step.Enqueue);
        var record = Single(step.Records);
        Assert.Equal(ProfileOperation.Install, record.Operation);
        Assert.Equal(ProfileStatus.Pending, record.Status);
        Assert.Equal(1, record.Attempt);
        Assert.Equal(s_start + s_options.PendingTimeout, record.Deadline);
        Assert.Equal(s_uploadedAt, record.UploadedAt);
        Assert.False(record.HeldByDevice);
        var change = Assert.Single(step.Changes);
        Assert.Equal(new ProfileTransition(s_start, ProfileOperation.Install, ProfileStatus.None, ProfileStatus.Pending, "declared; InstallProfile queued"), change.Transition);
        Assert.Equal([change.Transition], record.History);
    }

    [Fact]
    public void Declare_SameChecksumAgain_ChangesNothing()
    {
        var pending = Pending();
        _clock.Advance(TimeSpan.FromMinutes(1));

        var step = Apply(pending, Declare(s_firewall with { DisplayName = "Renamed" }));

        Assert.False(step.Changed);
        Assert.Empty(step.Enqueue);
        Assert.Same(pending[0], Single(step.Records));
    }

    [Fact]
    public void Declare_NewChecksum_DropsTheOldCommandAndQueuesTheNewVersion()
    {
        var verified = Verified();
        var pending = Pending();
        var oldCommand = pending[0].CommandUuid!;

        var records = Run(pending, Declare(s_firewall with { Checksum = "sha-2" }));
        var afterVerified = Run(verified, Declare(s_firewall with { Checksum = "sha-2" }));

        Assert.Contains(oldCommand, _dropped);
        Assert.Equal("sha-2", Single(records).Checksum);
        Assert.Equal(ProfileStatus.Pending, records[0].Status);
        Assert.Equal("sha-2", _queue[records[0].CommandUuid!].Checksum);
        Assert.Equal(ProfileStatus.Pending, Single(afterVerified).Status);
        Assert.True(afterVerified[0].HeldByDevice, "the device still holds the old version, so a later removal must send RemoveProfile");
        Assert.Equal("new version declared; InstallProfile queued", afterVerified[0].Detail);
    }

    [Fact]
    public void Acknowledged_Install_MovesToVerifyingWithVerifyDeadline()
    {
        var pending = Pending();
        _clock.Advance(TimeSpan.FromMinutes(3));

        var records = Run(pending, Answer(pending[0], MdmResultStatus.Acknowledged));

        var record = Single(records);
        Assert.Equal(ProfileStatus.Verifying, record.Status);
        Assert.Equal(Now, record.AcknowledgedAt);
        Assert.Equal(Now + s_options.VerifyTimeout, record.Deadline);
        Assert.Null(record.CommandUuid);
        Assert.True(record.HeldByDevice);
    }

    [Fact]
    public void Answer_ForACommandNoRecordWaitsFor_ChangesNothing()
    {
        var pending = Pending();

        var step = Apply(pending, new ProfileEvent.CommandAnswered("cmd-unknown", MdmCommandKind.InstallProfile, MdmResultStatus.Error, s_chain));

        Assert.False(step.Changed);
    }

    [Fact]
    public void NotNow_LeavesThePendingInstallAndItsCommand()
    {
        var pending = Pending();

        var step = Apply(pending, Answer(pending[0], MdmResultStatus.NotNow));

        Assert.False(step.Changed);
        Assert.Equal(pending[0].CommandUuid, step.Records[0].CommandUuid);
    }

    [Theory]
    [InlineData(MdmResultStatus.Error)]
    [InlineData(MdmResultStatus.CommandFormatError)]
    public void Error_OnInstall_RetriesOnceWithAFreshCommandThenFailsWithTheErrorChain(MdmResultStatus status)
    {
        var pending = Pending();
        _clock.Advance(TimeSpan.FromMinutes(1));

        var retried = Run(pending, Answer(pending[0], status, s_chain));
        var retry = Single(retried);
        var retryCommand = _queue[retry.CommandUuid!];
        _clock.Advance(TimeSpan.FromMinutes(1));
        var failed = Single(Run(retried, Answer(retry, status, s_chain)));

        var chain = "4001 MCInstallationErrorDomain: The profile could not be installed.; 1009 MCProfileErrorDomain: The payload is malformed.";
        Assert.Equal(ProfileStatus.Pending, retry.Status);
        Assert.Equal(2, retry.Attempt);
        Assert.NotEqual(pending[0].CommandUuid, retry.CommandUuid);
        Assert.Equal(MdmCommandKind.InstallProfile, retryCommand.Kind);
        Assert.Empty(_queue);
        Assert.Equal(Now - TimeSpan.FromMinutes(1) + s_options.PendingTimeout, retry.Deadline);
        Assert.Equal($"the device answered {status} to InstallProfile: {chain}; InstallProfile queued again (attempt 2 of 2)", retry.Detail);
        Assert.Equal(ProfileStatus.Failed, failed.Status);
        Assert.Equal($"the device answered {status} to InstallProfile: {chain} (attempt 2 of 2)", failed.Detail);
        Assert.Null(failed.Deadline);
        Assert.Null(ProfileMachine.NextDeadline(failed, s_options));
    }

    [Fact]
    public void ErrorChain_WithoutDomainOrDescription_StillNamesTheCode()
    {
        var text = ProfileMachine.ErrorChain([new MdmError(12, null, null), new MdmError(-3, "NSPOSIXErrorDomain", "Gone")]);

        Assert.Equal("12: no description; -3 NSPOSIXErrorDomain: Gone", text);
    }

    [Fact]
    public void Confirmation_OfVerifying_MovesToVerified()
    {
        var verifying = Acknowledged();
        _clock.Advance(TimeSpan.FromMinutes(2));

        var records = Run(verifying, Report(Seen(s_firewall, s_start.AddMinutes(1))));

        var record = Single(records);
        Assert.Equal(ProfileStatus.Verified, record.Status);
        Assert.Null(record.Deadline);
        Assert.Equal(Now, record.ConfirmedAt);
        Assert.Equal("confirmed installed by osquery", record.Detail);
        Assert.Null(ProfileMachine.NextDeadline(records, s_options));
    }

    [Fact]
    public void Case1_AcknowledgementLost_OsqueryReportsItInstalled_PendingBecomesVerifiedAndTheQueuedInstallIsDropped()
    {
        var pending = Pending();
        var command = pending[0].CommandUuid!;
        _clock.Advance(TimeSpan.FromMinutes(4));

        var step = Apply(pending, Report(Seen(s_firewall, s_start.AddMinutes(2))));
        var records = Commit(step);

        Assert.Equal([command], step.Drop);
        Assert.Empty(_queue);
        Assert.Equal(ProfileStatus.Verified, Single(records).Status);
        Assert.Equal(
            [ProfileStatus.Pending, ProfileStatus.Verified],
            records[0].History.Select(t => t.To).ToArray());
    }

    [Theory]
    [InlineData("2026-12-01T08:30:14Z", ProfileStatus.Pending)]
    [InlineData("2026-12-01T08:30:15Z", ProfileStatus.Verified)]
    [InlineData("2026-12-01T08:30:16Z", ProfileStatus.Verified)]
    [InlineData(null, ProfileStatus.Verified)]
    public void Confirmation_WithAnInstallDateOlderThanTheUpload_DoesNotConfirm(string? installedAt, ProfileStatus expected)
    {
        // Uploaded at 08:30:15.5; install dates carry whole seconds, so 08:30:15 is the same second.
        var date = installedAt is null ? (DateTimeOffset?)null : DateTimeOffset.Parse(installedAt, System.Globalization.CultureInfo.InvariantCulture);

        var records = Run(Pending(), Report(Seen(s_firewall, date)));

        Assert.Equal(expected, Single(records).Status);
    }

    [Fact]
    public void Confirmation_OfAFailedInstall_MovesToVerified()
    {
        var pending = Pending();
        var retried = Run(pending, Answer(pending[0], MdmResultStatus.Error, s_chain));
        var failed = Run(retried, Answer(retried[0], MdmResultStatus.Error, s_chain));
        Assert.Equal(ProfileStatus.Failed, Single(failed).Status);

        var records = Run(failed, Report(Seen(s_firewall, Now)));

        Assert.Equal(ProfileStatus.Verified, Single(records).Status);
        Assert.Equal(1, records[0].Attempt);
    }

    [Fact]
    public void Undeclared_InstallTheDeviceNeverReceived_IsRemovedAtOnceWithoutARemoveProfile()
    {
        var pending = Pending();
        var command = pending[0].CommandUuid!;

        var step = Apply(pending, Declare());

        Assert.Empty(step.Records);
        Assert.Equal([command], step.Drop);
        Assert.Empty(step.Enqueue);
        var change = Assert.Single(step.Changes);
        Assert.Equal(ProfileStatus.None, change.Transition.To);
        Assert.Equal(ProfileOperation.Install, change.Transition.Operation);
        Assert.Equal(ProfileStatus.None, ProfileMachine.Worst(step.Records));
    }

    [Fact]
    public void Undeclared_AcknowledgedInstall_QueuesRemoveProfileAndTheAcknowledgementCompletesIt()
    {
        var verified = Verified();
        _clock.Advance(TimeSpan.FromMinutes(1));

        var step = Apply(verified, Declare());
        var removing = Commit(step);
        var remove = Single(removing);
        var done = Apply(removing, Answer(remove, MdmResultStatus.Acknowledged));

        Assert.Equal([new ProfileCommandRequest(MdmCommandKind.RemoveProfile, "com.example.firewall", null, null)], step.Enqueue);
        Assert.True(step.Push);
        Assert.Equal(ProfileOperation.Remove, remove.Operation);
        Assert.Equal(ProfileStatus.Pending, remove.Status);
        Assert.Equal(Now + s_options.PendingTimeout, remove.Deadline);
        Assert.Empty(done.Records);
        Assert.Equal(new ProfileTransition(Now, ProfileOperation.Remove, ProfileStatus.Pending, ProfileStatus.None, "the device acknowledged RemoveProfile"), Assert.Single(done.Changes).Transition);
    }

    [Fact]
    public void Remove_ReportWithoutTheIdentifier_CompletesTheRemovalAndDropsItsCommand()
    {
        var removing = Run(Verified(), Declare());
        var command = removing[0].CommandUuid!;

        var withIt = Apply(removing, Report(Seen(s_firewall, Now)));
        var step = Apply(removing, Report(Seen(s_passcode, Now)));

        Assert.False(withIt.Changed);
        Assert.Empty(step.Records);
        Assert.Equal([command], step.Drop);
    }

    [Fact]
    public void Remove_Error_RetriesOnceThenFails()
    {
        var removing = Run(Verified(), Declare());

        var retried = Run(removing, Answer(removing[0], MdmResultStatus.Error, s_chain));
        var retryCommand = _queue[retried[0].CommandUuid!];
        var failed = Run(retried, Answer(retried[0], MdmResultStatus.Error, s_chain));

        Assert.Equal((ProfileOperation.Remove, ProfileStatus.Pending, 2), (retried[0].Operation, retried[0].Status, retried[0].Attempt));
        Assert.Equal(MdmCommandKind.RemoveProfile, retryCommand.Kind);
        Assert.Equal(ProfileStatus.Failed, Single(failed).Status);
        Assert.StartsWith("the device answered Error to RemoveProfile: 4001 MCInstallationErrorDomain", failed[0].Detail, StringComparison.Ordinal);
        Assert.Equal(ProfileStatus.Failed, ProfileMachine.Worst(failed));
    }

    [Fact]
    public void Case5_AddedDeletedReAddedWhileOffline_ConvergesToVerifiedWithOneInstallAndNoRemoval()
    {
        var added = Run([], Declare(s_firewall));
        var firstCommand = added[0].CommandUuid!;
        _clock.Advance(TimeSpan.FromMinutes(1));
        var deleted = Run(added, Declare());
        _clock.Advance(TimeSpan.FromMinutes(1));
        var readded = Run(deleted, Declare(s_firewall));

        Assert.Empty(deleted);
        var pending = Single(readded);
        Assert.Equal((ProfileOperation.Install, ProfileStatus.Pending, 1), (pending.Operation, pending.Status, pending.Attempt));
        var queued = Assert.Single(_queue);
        Assert.Equal(MdmCommandKind.InstallProfile, queued.Value.Kind);
        Assert.Equal([firstCommand], _dropped);

        // The host returns: a stale answer to the dropped command, then the live one, then osquery.
        var stale = Apply(readded, new ProfileEvent.CommandAnswered(firstCommand, MdmCommandKind.InstallProfile, MdmResultStatus.Error, s_chain));
        var verifying = Run(readded, Answer(pending, MdmResultStatus.Acknowledged));
        var verified = Run(verifying, Report(Seen(s_firewall, Now)));

        Assert.False(stale.Changed);
        Assert.Equal(ProfileStatus.Verifying, Single(verifying).Status);
        var record = Single(verified);
        Assert.Equal((ProfileOperation.Install, ProfileStatus.Verified), (record.Operation, record.Status));
        Assert.DoesNotContain(record.History, t => t.Operation == ProfileOperation.Remove || t.To == ProfileStatus.Failed);
        Assert.Empty(_queue);
    }

    [Fact]
    public void Declare_AgainWhileTheRemovalWaits_DropsTheRemovalAndInstallsAgain()
    {
        var removing = Run(Verified(), Declare());
        var removeCommand = removing[0].CommandUuid!;

        var records = Run(removing, Declare(s_firewall));

        Assert.Contains(removeCommand, _dropped);
        var record = Single(records);
        Assert.Equal((ProfileOperation.Install, ProfileStatus.Pending), (record.Operation, record.Status));
        Assert.Equal(MdmCommandKind.InstallProfile, _queue[record.CommandUuid!].Kind);
        Assert.Equal("declared again; RemoveProfile dropped, InstallProfile queued", record.Detail);
    }

    [Fact]
    public void Case6_VerifyingReportedMissing_RetriesOnceAfterTheGraceThenFailsAndLaterBecomesVerified()
    {
        var verifying = Acknowledged();
        var missingAt = Now;
        var noted = Run(verifying, Report());
        _clock.Advance(s_options.MissingGrace - s_tick);
        var stillInGrace = Apply(noted, Report());
        _clock.Advance(s_tick);
        var retried = Run(noted, Report());
        var retry = Single(retried);
        var retryCommand = _queue[retry.CommandUuid!];
        var verifyingAgain = Run(retried, Answer(retry, MdmResultStatus.Acknowledged));
        var missingAgain = Run(verifyingAgain, Report());
        _clock.Advance(s_options.MissingGrace);
        var failed = Run(missingAgain, Report());
        _clock.Advance(TimeSpan.FromHours(1));
        var verified = Run(failed, Report(Seen(s_firewall, Now)));

        Assert.Equal((ProfileStatus.Verifying, missingAt), (noted[0].Status, noted[0].MissingSince));
        Assert.Equal(missingAt + s_options.MissingGrace, ProfileMachine.NextDeadline(noted, s_options));
        Assert.False(stillInGrace.Changed);
        Assert.Equal((ProfileStatus.Pending, 2), (retry.Status, retry.Attempt));
        Assert.StartsWith("was verifying; reported missing since 2026-12-01T09:00:00Z", retry.Detail, StringComparison.Ordinal);
        Assert.Equal(MdmCommandKind.InstallProfile, retryCommand.Kind);
        Assert.Equal(ProfileStatus.Verifying, verifyingAgain[0].Status);
        Assert.Equal(ProfileStatus.Failed, Single(failed).Status);
        Assert.StartsWith("was verifying; reported missing since", failed[0].Detail, StringComparison.Ordinal);
        Assert.EndsWith("(attempt 2 of 2)", failed[0].Detail, StringComparison.Ordinal);
        Assert.Null(ProfileMachine.NextDeadline(failed, s_options));
        Assert.Equal(ProfileStatus.Verified, Single(verified).Status);
    }

    [Fact]
    public void Verified_ReportedMissing_IsRetriedAtTheGraceDeadlineEvenWithoutAnotherReport()
    {
        var verified = Verified();
        var noted = Run(verified, Report());
        _clock.Advance(s_options.MissingGrace - s_tick);
        var early = Apply(noted, Due());
        _clock.Advance(s_tick);

        var retried = Run(noted, Due());

        Assert.Equal(ProfileStatus.Verified, noted[0].Status);
        Assert.False(early.Changed);
        var retry = Single(retried);
        Assert.Equal((ProfileStatus.Pending, 2), (retry.Status, retry.Attempt));
        Assert.StartsWith("was verified; reported missing since", retry.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Verified_ReportedMissingThenSeenAgainWithinTheGrace_StaysVerifiedWithoutATransition()
    {
        var noted = Run(Verified(), Report());
        _clock.Advance(TimeSpan.FromMinutes(1));

        var step = Apply(noted, Report(Seen(s_firewall, s_start)));

        Assert.True(step.Changed);
        Assert.Empty(step.Changes);
        Assert.Null(Single(step.Records).MissingSince);
        Assert.Equal(ProfileStatus.Verified, step.Records[0].Status);
    }

    [Fact]
    public void Pending_PastItsDeadline_IsPushedAgainOnceThenFailsNamingTheWaitAndThePushState()
    {
        var pending = Pending();
        var command = pending[0].CommandUuid!;
        _clock.Advance(s_options.PendingTimeout - s_tick);
        var early = Apply(pending, Due());
        _clock.Advance(s_tick);
        var repush = Apply(pending, Due());
        var repushed = Commit(repush);
        _clock.Advance(s_options.PendingTimeout);

        var failed = Run(repushed, Due());

        Assert.False(early.Changed);
        Assert.True(repush.Push);
        Assert.Empty(repush.Enqueue);
        Assert.Empty(repush.Drop);
        Assert.Equal((ProfileStatus.Pending, 2, command), (repushed[0].Status, repushed[0].Attempt, repushed[0].CommandUuid));
        Assert.Equal(Now, repushed[0].Deadline);
        Assert.Equal("no answer to InstallProfile within 00:10:00; pushed again (attempt 2 of 2)", repushed[0].Detail);
        Assert.Equal(ProfileStatus.Failed, Single(failed).Status);
        Assert.Equal(
            "no answer to InstallProfile queued at 2026-12-01T09:00:00Z within 00:20:00 after 2 sends; " +
            "the last push failed: the push certificate expired",
            failed[0].Detail);
        Assert.Null(ProfileMachine.NextDeadline(failed, s_options));

        // Failed is terminal: its command leaves the queue, so it is neither pushed again nor in the way.
        Assert.Null(failed[0].CommandUuid);
        Assert.Equal([command], _dropped);
        Assert.Empty(_queue);
    }

    [Fact]
    public void Verifying_PastItsDeadline_QueuesOneProfileListThenFails()
    {
        var verifying = Acknowledged();
        var acknowledgedAt = Now;
        _clock.Advance(s_options.VerifyTimeout - s_tick);
        var early = Apply(verifying, Due());
        _clock.Advance(s_tick);
        var check = Apply(verifying, Due());
        var checking = Commit(check);
        _clock.Advance(s_options.VerifyTimeout);

        var failed = Run(checking, Due());

        Assert.False(early.Changed);
        Assert.True(check.QueueProfileList);
        Assert.True(check.Push);
        Assert.Equal(ProfileStatus.Verifying, checking[0].Status);
        Assert.Equal(Now, checking[0].Deadline);
        Assert.Equal(ProfileStatus.Failed, Single(failed).Status);
        Assert.StartsWith($"acknowledged at {acknowledgedAt:yyyy-MM-ddTHH:mm:ssZ} but never confirmed", failed[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ProfileList_AnswerListingTheProfile_ConfirmsAVerifyingInstall()
    {
        var verifying = Acknowledged();
        _clock.Advance(s_options.VerifyTimeout);
        var checking = Run(verifying, Due());

        var records = Run(checking, new ProfileEvent.InstalledReported([Seen(s_firewall, Now)], "ProfileList"));

        Assert.Equal(ProfileStatus.Verified, Single(records).Status);
        Assert.Equal("confirmed installed by ProfileList", records[0].Detail);
    }

    public static TheoryData<string> StuckCandidates => ["pending install", "verifying", "missing", "pending removal"];

    [Theory]
    [MemberData(nameof(StuckCandidates))]
    public void EveryWaitingState_WithNoAnswerEver_EndsFailedAtItsDeadlines(string start)
    {
        var records = start switch
        {
            "pending install" => Pending(),
            "verifying" => Acknowledged(),
            "missing" => Run(Verified(), Report()),
            _ => Run(Verified(), Declare()),
        };

        var wakeUps = 0;
        while (ProfileMachine.NextDeadline(records, s_options) is { } deadline)
        {
            Assert.True(++wakeUps <= 6, $"{start}: still waiting after {wakeUps - 1} deadlines ({records[0].Status})");
            _clock.SetUtcNow(deadline);
            records = Run(records, Due());
        }

        Assert.Equal(ProfileStatus.Failed, Single(records).Status);
        Assert.True(wakeUps >= 2, $"{start}: failed after {wakeUps} deadline(s), without its one retry");
    }

    [Theory]
    [InlineData(new[] { ProfileStatus.Verified, ProfileStatus.Verifying }, ProfileStatus.Verifying)]
    [InlineData(new[] { ProfileStatus.Verified, ProfileStatus.Pending, ProfileStatus.Verifying }, ProfileStatus.Pending)]
    [InlineData(new[] { ProfileStatus.Pending, ProfileStatus.Failed, ProfileStatus.Verified }, ProfileStatus.Failed)]
    [InlineData(new[] { ProfileStatus.Verified }, ProfileStatus.Verified)]
    [InlineData(new ProfileStatus[0], ProfileStatus.None)]
    public void Worst_OrdersFailedPendingVerifyingVerified(ProfileStatus[] statuses, ProfileStatus expected)
    {
        var records = statuses.Select((s, i) => Single(Pending()) with { Identifier = $"p{i}", Status = s });

        Assert.Equal(expected, ProfileMachine.Worst(records));
    }

    [Fact]
    public void Case7_OnePendingRemovalAndOtherwiseVerified_IsPending()
    {
        var both = Run(Run([], Declare(s_firewall, s_passcode)), Report(Seen(s_firewall, Now), Seen(s_passcode, Now)));
        Assert.Equal(ProfileStatus.Verified, ProfileMachine.Worst(both));

        var records = Run(both, Declare(s_passcode));

        Assert.Equal(2, records.Count);
        Assert.Equal((ProfileOperation.Remove, ProfileStatus.Pending), (records[0].Operation, records[0].Status));
        Assert.Equal(ProfileStatus.Verified, records[1].Status);
        Assert.Equal(ProfileStatus.Pending, ProfileMachine.Worst(records));
    }

    [Fact]
    public void Reenrolled_QueuesEveryUnconfirmedProfileAgainAndLeavesVerifiedOnes()
    {
        var both = Run(Run([], Declare(s_firewall, s_passcode)), Report(Seen(s_passcode, Now)));
        _queue.Clear();
        _clock.Advance(TimeSpan.FromMinutes(30));

        var step = Apply(both, new ProfileEvent.Reenrolled());

        Assert.Equal([new ProfileCommandRequest(MdmCommandKind.InstallProfile, "com.example.firewall", "Firewall", "sha-1")], step.Enqueue);
        Assert.Empty(step.Drop);
        var firewall = step.Records.Single(r => r.Identifier == s_firewall.Identifier);
        Assert.Equal((ProfileStatus.Pending, 1, Now + s_options.PendingTimeout), (firewall.Status, firewall.Attempt, firewall.Deadline));
        Assert.Same(both.Single(r => r.Identifier == s_passcode.Identifier), step.Records.Single(r => r.Identifier == s_passcode.Identifier));
    }

    [Fact]
    public void Reenrolled_AfterAnEarlierEnrollment_SendsVerifiedProfilesAgainToo()
    {
        var both = Run(Run([], Declare(s_firewall, s_passcode)), Report(Seen(s_passcode, Now)));
        _queue.Clear();
        _clock.Advance(TimeSpan.FromMinutes(30));

        var step = Apply(both, new ProfileEvent.Reenrolled(WasEnrolled: true));

        Assert.Equal(
            [
                new ProfileCommandRequest(MdmCommandKind.InstallProfile, "com.example.firewall", "Firewall", "sha-1"),
                new ProfileCommandRequest(MdmCommandKind.InstallProfile, "com.example.passcode", "Passcode", "sha-9"),
            ],
            step.Enqueue.OrderBy(r => r.Identifier).ToArray());
        var passcode = step.Records.Single(r => r.Identifier == s_passcode.Identifier);
        Assert.Equal((ProfileStatus.Pending, 1, Now + s_options.PendingTimeout), (passcode.Status, passcode.Attempt, passcode.Deadline));
        Assert.StartsWith("the device enrolled in MDM again, which removes the profiles and commands of its earlier enrollment", passcode.Detail);
    }

    [Fact]
    public void CheckedOut_FailsOutstandingInstallsAndCompletesRemovals()
    {
        var mixed = Run(Run(Run([], Declare(s_firewall, s_passcode)), Report(Seen(s_passcode, Now))), Declare(s_firewall));

        var records = Run(mixed, new ProfileEvent.CheckedOut());

        var firewall = Single(records);
        Assert.Equal((ProfileStatus.Failed, "the device checked out of MDM before the profile was confirmed"), (firewall.Status, firewall.Detail));
        Assert.Null(firewall.CommandUuid);
        Assert.Empty(_queue);
    }

    [Fact]
    public void History_KeepsTheLatestTwentyTransitions()
    {
        var records = Pending();
        for (var i = 0; i < 30; i++)
        {
            records = Run(records, Declare(s_firewall with { Checksum = $"sha-{i + 10}" }));
        }

        var history = Single(records).History;
        Assert.Equal(ProfileMachine.HistoryLimit, history.Count);
        Assert.All(history, t => Assert.Equal("new version declared; InstallProfile queued", t.Detail));
    }
}
