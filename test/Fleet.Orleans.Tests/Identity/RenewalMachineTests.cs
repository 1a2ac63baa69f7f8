using Fleet.Contracts;
using Fleet.Grains.Mdm.Identity;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Identity;

/// <summary>The identity certificate machine on a fake clock: which certificates are accepted, expiry, and every renewal step.</summary>
public sealed class RenewalMachineTests
{
    private const string FirstCommand = "11111111-1111-4111-8111-111111111111";
    private const string SecondCommand = "22222222-2222-4222-8222-222222222222";

    private static readonly DateTimeOffset s_start = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_tick = TimeSpan.FromTicks(1);

    private static readonly RenewalOptions s_options = new()
    {
        Window = TimeSpan.FromDays(30),
        Overlap = TimeSpan.FromDays(7),
        Timeout = TimeSpan.FromHours(1),
        RetryBackoff = TimeSpan.FromMinutes(5),
        MaxRetryBackoff = TimeSpan.FromMinutes(18),
    };

    private readonly FakeTimeProvider _clock = new(s_start);

    private static DeviceCertificate Certificate(string serial, DateTimeOffset notAfter) =>
        new($"THUMB-{serial}", "CN=HOST-A", serial, "CN=Test CA", notAfter.AddYears(-1), notAfter, IdentityPresentation.Tls);

    private static readonly DeviceCertificate s_expiresIn40Days = Certificate("01", s_start.AddDays(40));
    private static readonly DeviceCertificate s_expiresIn10Days = Certificate("02", s_start.AddDays(10));
    private static readonly DeviceCertificate s_renewed = Certificate("03", s_start.AddDays(375));

    private RenewalStep Apply(IdentityRecord? current, RenewalEvent evt) =>
        RenewalMachine.Apply(current, evt, s_options, _clock.GetUtcNow());

    private RenewalStep Record(DeviceCertificate certificate, bool canRenew = true) =>
        Apply(null, new RenewalEvent.Recorded(certificate, "recorded at Authenticate", FirstCommand, canRenew));

    private RenewalStep Due(IdentityRecord record, string uuid = SecondCommand) =>
        Apply(record, new RenewalEvent.Due(uuid, CanRenew: true));

    private RenewalStep Answer(IdentityRecord record, MdmResultStatus status, string uuid = FirstCommand) =>
        Apply(record, new RenewalEvent.Answered(uuid, status, "12021 MCMDMErrorDomain: no"));

    private void AdvanceTo(DateTimeOffset? at) => _clock.Advance(at!.Value - _clock.GetUtcNow());

    private static string[] Steps(IdentityRecord record) => [.. record.History.Select(e => e.Step)];

    [Fact]
    public void Recorded_OutsideTheWindow_IsValidAndWakesAtTheWindowStart()
    {
        var step = Record(s_expiresIn40Days);

        var record = step.Record!;
        Assert.True(step.Changed);
        Assert.Equal(IdentityVerdict.Accepted, step.Verdict);
        Assert.Null(step.QueueCommand);
        Assert.Equal(s_expiresIn40Days, record.Current);
        Assert.Equal(IdentityState.Valid, RenewalMachine.StateOf(record));
        Assert.Equal(
            new IdentityEvent(s_start, "recorded", "recorded at Authenticate: serial 01, not after 2027-01-10T09:00:00Z, issuer CN=Test CA"),
            Assert.Single(record.History));
        Assert.Equal(s_start.AddDays(10), RenewalMachine.NextWake(record, s_options, canRenew: true));
        Assert.Equal(s_start.AddDays(40), RenewalMachine.NextWake(record, s_options, canRenew: false));
    }

    [Fact]
    public void Recorded_InsideTheWindow_QueuesTheFirstRenewalAtOnce_UnlessNoneCanBeDelivered()
    {
        var step = Record(s_expiresIn10Days);
        var cannot = Record(s_expiresIn10Days, canRenew: false);

        Assert.Equal(FirstCommand, step.QueueCommand);
        Assert.Equal(
            new RenewalRecord { Status = RenewalStatus.Queued, Attempt = 1, CommandUuid = FirstCommand, Deadline = s_start.AddHours(1), StartedAt = s_start },
            step.Record!.Renewal);
        Assert.Equal(["recorded", "renewal_queued"], Steps(step.Record));
        Assert.Equal(IdentityState.Renewing, RenewalMachine.StateOf(step.Record));
        Assert.Null(cannot.QueueCommand);
        Assert.Null(cannot.Record!.Renewal);
    }

    [Fact]
    public void Due_QueuesTheRenewalExactlyAtTheWindowStart()
    {
        var record = Record(s_expiresIn40Days).Record!;

        AdvanceTo(s_start.AddDays(10) - s_tick);
        var early = Due(record);
        AdvanceTo(s_start.AddDays(10));
        var due = Due(record);

        Assert.False(early.Changed);
        Assert.Equal(SecondCommand, due.QueueCommand);
        Assert.Equal(1, due.Record!.Renewal!.Attempt);
        Assert.Equal(s_start.AddDays(10).AddHours(1), due.Record.Renewal.Deadline);
        Assert.Equal(s_start.AddDays(10).AddHours(1), RenewalMachine.NextWake(due.Record, s_options, canRenew: true));
    }

    [Fact]
    public void NotNow_KeepsTheCommandQueuedWithItsDeadline_AndRecordsIt()
    {
        var record = Record(s_expiresIn10Days).Record!;

        _clock.Advance(TimeSpan.FromMinutes(1));
        var notNow = Answer(record, MdmResultStatus.NotNow);

        Assert.True(notNow.Changed);
        Assert.Null(notNow.QueueCommand);
        Assert.Null(notNow.DropCommand);
        Assert.Equal(record.Renewal, notNow.Record!.Renewal);
        Assert.Equal(
            new IdentityEvent(_clock.GetUtcNow(), "not_now", $"the device answered NotNow to RenewIdentity {FirstCommand}; it stays queued (attempt 1)"),
            notNow.Record.History[^1]);
    }

    [Fact]
    public void Acknowledged_IsInstalled_ThenThePresentedCandidateIsRecordedAndThePreviousOverlaps()
    {
        var record = Record(s_expiresIn10Days).Record!;
        _clock.Advance(TimeSpan.FromMinutes(1));
        var issued = Apply(record, new RenewalEvent.Issued(FirstCommand, s_renewed)).Record!;
        _clock.Advance(TimeSpan.FromMinutes(1));
        var installed = Answer(issued, MdmResultStatus.Acknowledged).Record!;
        _clock.Advance(TimeSpan.FromMinutes(1));
        var renewedAt = _clock.GetUtcNow();

        var renewed = Apply(installed, new RenewalEvent.Presented(s_renewed));
        var current = renewed.Record!;
        var old = Apply(current, new RenewalEvent.Presented(s_expiresIn10Days));
        AdvanceTo(renewedAt + s_options.Overlap - s_tick);
        var lastOverlap = Apply(current, new RenewalEvent.Presented(s_expiresIn10Days));
        AdvanceTo(renewedAt + s_options.Overlap);
        var afterOverlap = Apply(current, new RenewalEvent.Presented(s_expiresIn10Days));

        Assert.Equal(["THUMB-03"], issued.Candidates);
        Assert.Equal(RenewalStatus.Installed, installed.Renewal!.Status);
        Assert.Equal(s_start.AddMinutes(2).AddHours(1), installed.Renewal.Deadline);
        Assert.True(renewed.Changed);
        Assert.Equal(IdentityVerdict.Accepted, renewed.Verdict);
        Assert.Null(renewed.DropCommand);
        Assert.Equal(s_renewed, current.Current);
        Assert.Equal(s_expiresIn10Days, current.Previous);
        Assert.Equal(renewedAt + s_options.Overlap, current.PreviousAcceptedUntil);
        Assert.Null(current.Renewal);
        Assert.Empty(current.Candidates);
        Assert.Equal(IdentityState.Valid, RenewalMachine.StateOf(current));
        Assert.Equal(["recorded", "renewal_queued", "issued", "installed", "renewed"], Steps(current));
        Assert.Equal((false, IdentityVerdict.Accepted), (old.Changed, old.Verdict));
        Assert.Equal(IdentityVerdict.Accepted, lastOverlap.Verdict);
        Assert.Equal(IdentityVerdict.Unrecognised, afterOverlap.Verdict);
        Assert.False(afterOverlap.Changed);
        Assert.False(afterOverlap.AskOwner);
        Assert.Equal(
            "certificate serial 02 was replaced at 2026-12-01T09:03:00Z by serial 03; its overlap ended at 2026-12-08T09:03:00Z",
            afterOverlap.Refusal);
    }

    [Fact]
    public void Candidate_PresentedBeforeTheAcknowledgement_IsRecordedAndItsQueuedCommandDropped()
    {
        var record = Apply(Record(s_expiresIn10Days).Record!, new RenewalEvent.Issued(FirstCommand, s_renewed)).Record!;

        var renewed = Apply(record, new RenewalEvent.Presented(s_renewed));

        Assert.Equal(s_renewed, renewed.Record!.Current);
        Assert.Equal(FirstCommand, renewed.DropCommand);
    }

    [Fact]
    public void Unanswered_IsDroppedAtItsDeadline_ThenRetriedWithANewCommandAfterABackoffThatGrowsToItsCap()
    {
        var record = Record(s_expiresIn10Days).Record!;
        var uuids = new[] { SecondCommand, "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444", "55555555-5555-4555-8555-555555555555" };
        var backoffs = new List<TimeSpan>();
        var dropped = new List<string?>();

        foreach (var uuid in uuids)
        {
            var deadline = record.Renewal!.Deadline;
            AdvanceTo(deadline - s_tick);
            Assert.False(Due(record, uuid).Changed, $"attempt {record.Renewal.Attempt}: changed one tick before its deadline");
            AdvanceTo(deadline);
            var timedOut = Due(record, uuid);
            dropped.Add(timedOut.DropCommand);
            record = timedOut.Record!;
            backoffs.Add(record.Renewal!.NextAttemptAt!.Value - deadline!.Value);
            Assert.Equal(RenewalStatus.WaitingRetry, record.Renewal.Status);
            Assert.Equal(ReasonCodes.MdmNoAck, record.Renewal.LastFailure!.Code);
            Assert.Equal(record.Renewal.NextAttemptAt, RenewalMachine.NextWake(record, s_options, canRenew: true));
            Assert.Equal(s_expiresIn10Days.NotAfter, RenewalMachine.NextWake(record, s_options, canRenew: false));

            AdvanceTo(record.Renewal.NextAttemptAt - s_tick);
            Assert.False(Due(record, uuid).Changed, $"attempt {record.Renewal.Attempt}: retried one tick early");
            AdvanceTo(record.Renewal.NextAttemptAt);
            var retry = Due(record, uuid);
            Assert.Equal(uuid, retry.QueueCommand);
            record = retry.Record!;
        }

        Assert.Equal([FirstCommand, .. uuids[..3]], dropped);
        Assert.Equal([TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(18), TimeSpan.FromMinutes(18)], backoffs);
        Assert.Equal(5, record.Renewal!.Attempt);
        Assert.Equal(uuids[^1], record.Renewal.CommandUuid);
        Assert.Equal(s_start, record.Renewal.StartedAt);
        Assert.Equal(
            $"The device did not answer RenewIdentity {uuids[2]} within 01:00:00 (attempt 4); the command was dropped.",
            record.Renewal.LastFailure!.Message);
    }

    [Fact]
    public void Error_WaitsToRetryWithoutDropping_AndAStaleAnswerChangesNothing()
    {
        var record = Record(s_expiresIn10Days).Record!;
        _clock.Advance(TimeSpan.FromMinutes(2));

        var error = Answer(record, MdmResultStatus.Error);
        var formatError = Answer(record, MdmResultStatus.CommandFormatError);
        var stale = Answer(error.Record!, MdmResultStatus.Acknowledged);
        var otherCommand = Answer(record, MdmResultStatus.Acknowledged, SecondCommand);

        Assert.Null(error.DropCommand);
        Assert.Equal(
            new RenewalRecord
            {
                Status = RenewalStatus.WaitingRetry,
                Attempt = 1,
                CommandUuid = FirstCommand,
                NextAttemptAt = s_start.AddMinutes(7),
                StartedAt = s_start,
                LastFailure = new Reason(ReasonCodes.MdmError, $"The device answered Error to RenewIdentity {FirstCommand} (attempt 1): 12021 MCMDMErrorDomain: no."),
            },
            error.Record!.Renewal);
        Assert.Equal(RenewalStatus.WaitingRetry, formatError.Record!.Renewal!.Status);
        Assert.False(stale.Changed);
        Assert.False(otherCommand.Changed);
    }

    [Fact]
    public void IssueFailed_DropsTheCommandAndWaitsItsBackoff_WithTheReasonInTheHistory_ForAnotherCommandNothing()
    {
        var record = Record(s_expiresIn10Days).Record!;
        _clock.Advance(TimeSpan.FromMinutes(2));

        var failed = Apply(record, new RenewalEvent.IssueFailed(FirstCommand, "the issuing CA ends inside the renewal window."));
        var other = Apply(record, new RenewalEvent.IssueFailed(SecondCommand, "no"));

        var reason = new Reason(
            ReasonCodes.IdentityIssueFailed,
            $"No identity could be issued for RenewIdentity {FirstCommand} (attempt 1): the issuing CA ends inside the renewal window.");
        Assert.Equal(FirstCommand, failed.DropCommand);
        Assert.Equal(
            (RenewalStatus.WaitingRetry, (DateTimeOffset?)s_start.AddMinutes(7), reason),
            (failed.Record!.Renewal!.Status, failed.Record.Renewal.NextAttemptAt, failed.Record.Renewal.LastFailure));
        Assert.Equal(["recorded", "renewal_queued", "retry_scheduled"], Steps(failed.Record));
        Assert.False(other.Changed);
    }

    [Fact]
    public void Installed_WithoutThePresentation_WaitsToRetryAtItsDeadline()
    {
        var installed = Answer(Record(s_expiresIn10Days).Record!, MdmResultStatus.Acknowledged).Record!;

        AdvanceTo(installed.Renewal!.Deadline);
        var timedOut = Due(installed);

        Assert.Null(timedOut.DropCommand);
        Assert.Equal(RenewalStatus.WaitingRetry, timedOut.Record!.Renewal!.Status);
        Assert.Equal(
            new Reason(ReasonCodes.IdentityNotPresented,
                $"The device acknowledged RenewIdentity {FirstCommand} but presented no renewed certificate by 2026-12-01T10:00:00Z (attempt 1)."),
            timedOut.Record.Renewal.LastFailure);
    }

    [Fact]
    public void Issued_KeepsTheLatestFourCandidates_AndOnlyForTheQueuedCommand()
    {
        var record = Record(s_expiresIn10Days).Record!;

        for (var i = 0; i < 6; i++)
        {
            record = Apply(record, new RenewalEvent.Issued(FirstCommand, Certificate($"1{i}", s_start.AddYears(1)))).Record!;
        }

        var otherCommand = Apply(record, new RenewalEvent.Issued(SecondCommand, s_renewed));

        Assert.Equal(["THUMB-12", "THUMB-13", "THUMB-14", "THUMB-15"], record.Candidates);
        Assert.False(otherCommand.Changed);
    }

    [Fact]
    public void Presented_UnknownOrNone_IsRefusedAndAsksTheOwner_CurrentIsAcceptedWithoutAChange()
    {
        var record = Record(s_expiresIn40Days).Record!;

        var current = Apply(record, new RenewalEvent.Presented(s_expiresIn40Days));
        var unknown = Apply(record, new RenewalEvent.Presented(s_renewed));
        var nothingRecorded = Apply(null, new RenewalEvent.Presented(s_renewed));

        Assert.Equal(RenewalStep.Unchanged(record), current);
        Assert.Equal(
            new RenewalStep(record, false, IdentityVerdict.Unrecognised,
                "certificate serial 03 is not the certificate recorded for this host at Authenticate or at its last renewal (serial 01)",
                AskOwner: true),
            unknown);
        Assert.Equal((IdentityVerdict.Unrecognised, true, false), (nothingRecorded.Verdict, nothingRecorded.AskOwner, nothingRecorded.Changed));
    }

    [Fact]
    public void Expiry_AtNotAfter_ExpiresStopsTheRenewalAndDropsItsCommand_OneTickBeforeNothing()
    {
        var record = Record(s_expiresIn10Days).Record!;

        AdvanceTo(s_expiresIn10Days.NotAfter - s_tick);
        var before = Apply(record with { Renewal = record.Renewal! with { Deadline = s_expiresIn10Days.NotAfter.AddDays(1) } }, new RenewalEvent.Due(SecondCommand, true));
        AdvanceTo(s_expiresIn10Days.NotAfter);
        var expired = Due(record);
        var presented = Apply(expired.Record!, new RenewalEvent.Presented(s_expiresIn10Days));
        var again = Due(expired.Record!);

        var reason = new Reason(ReasonCodes.IdentityExpired, "identity certificate expired at 2026-12-11T09:00:00Z");
        Assert.False(before.Changed);
        Assert.Equal(reason, expired.Expired);
        Assert.Equal(reason, expired.Record!.Expiry);
        Assert.Equal(FirstCommand, expired.DropCommand);
        Assert.Null(expired.Record.Renewal);
        Assert.Equal(IdentityState.Expired, RenewalMachine.StateOf(expired.Record));
        Assert.Null(RenewalMachine.NextWake(expired.Record, s_options, canRenew: true));
        Assert.Equal(
            "identity certificate expired at 2026-12-11T09:00:00Z (serial 02); pending MDM work failed; renewal attempt 1 stopped",
            expired.Record.History[^1].Detail);
        Assert.Equal((false, IdentityVerdict.Expired, reason.Message), (presented.Changed, presented.Verdict, presented.Refusal));
        Assert.False(again.Changed);
    }

    [Fact]
    public void ExpiryReported_ForTheCurrentCertificateExpires_ForAnotherChangesNothing()
    {
        var record = Record(s_expiresIn40Days).Record!;

        var other = Apply(record, new RenewalEvent.ExpiryReported(s_renewed));
        var reported = Apply(record, new RenewalEvent.ExpiryReported(s_expiresIn40Days));
        var twice = Apply(reported.Record!, new RenewalEvent.ExpiryReported(s_expiresIn40Days));
        var reenrolled = Apply(reported.Record!, new RenewalEvent.Recorded(s_renewed, "recorded at Authenticate", SecondCommand, true));

        Assert.Equal((false, IdentityVerdict.Unrecognised), (other.Changed, other.Verdict));
        Assert.Equal("certificate serial 03 is not this host's current certificate (serial 01)", other.Refusal);
        Assert.Equal((true, IdentityVerdict.Expired), (reported.Changed, reported.Verdict));
        Assert.Equal(ReasonCodes.IdentityExpired, reported.Expired!.Code);
        Assert.Equal((false, IdentityVerdict.Expired), (twice.Changed, twice.Verdict));
        Assert.Null(reenrolled.Record!.Expiry);
        Assert.Equal(s_renewed, reenrolled.Record.Current);
        Assert.Equal(["recorded", "expired", "recorded"], Steps(reenrolled.Record));
    }

    [Fact]
    public void History_KeepsTheLatest32Events()
    {
        var record = Record(s_expiresIn10Days).Record!;

        for (var i = 0; i < 40; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            record = Answer(record, MdmResultStatus.NotNow).Record!;
        }

        Assert.Equal(RenewalMachine.HistoryLimit, record.History.Count);
        Assert.All(record.History, e => Assert.Equal("not_now", e.Step));
        Assert.Equal(_clock.GetUtcNow(), record.History[^1].At);
    }

    [Fact]
    public void View_ShowsPublicFactsTheWindowAndTheRenewal()
    {
        var record = Record(s_expiresIn10Days).Record!;

        var view = RenewalMachine.ToView(record, s_options);

        Assert.Equal(
            (s_expiresIn10Days.Subject, "02", s_expiresIn10Days.NotAfter, IdentityState.Renewing, s_start.AddDays(-20)),
            (view.Subject, view.SerialNumber, view.NotAfter, view.State, view.RenewalWindowStartsAt));
        Assert.Equal(new RenewalView(RenewalStatus.Queued, 1, FirstCommand, s_start.AddHours(1), null, null), view.Renewal);
        Assert.Equal(record.History, view.History);
    }
}
