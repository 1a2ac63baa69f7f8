using Fleet.Contracts;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Refetch;

/// <summary>The MDM requirement of a refetch and how it combines with the osquery one, on a fake clock.</summary>
public sealed class RefetchMachineMdmTests
{
    private const string FirstCommand = "11111111-1111-4111-8111-111111111111";
    private const string SecondCommand = "22222222-2222-4222-8222-222222222222";

    private static readonly DateTimeOffset s_start = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_tick = TimeSpan.FromTicks(1);

    private static readonly RefetchPolicy s_mac = new(
        "macos14",
        PickupTimeout: TimeSpan.FromMinutes(2),
        ResultsTimeout: TimeSpan.FromMinutes(1),
        MaxAttempts: 3,
        RetryBackoff: TimeSpan.FromSeconds(30),
        MaxRetryBackoff: TimeSpan.FromSeconds(45))
    {
        MdmAckTimeout = TimeSpan.FromMinutes(5),
        MdmMaxAttempts = 3,
        MdmRetryBackoff = TimeSpan.FromMinutes(1),
        MdmMaxRetryBackoff = TimeSpan.FromSeconds(90),
    };

    private static readonly RefetchPolicy s_ipad = s_mac with { Name = "ipados" };

    private readonly FakeTimeProvider _clock = new(s_start);

    private RefetchStep Apply(RefetchRecord? current, RefetchEvent evt, RefetchPolicy? policy = null) =>
        RefetchMachine.Apply(current, evt, policy ?? s_mac, _clock.GetUtcNow());

    private RefetchRecord Requested(RefetchPolicy? policy = null) =>
        Apply(null, new RefetchEvent.Requested(FirstCommand), policy).Refetch!;

    private RefetchRecord OsqueryAnswered(RefetchRecord refetch)
    {
        var handedOut = Apply(refetch, new RefetchEvent.QueriesHandedOut()).Refetch!;

        return Apply(handedOut, new RefetchEvent.ResultsReceived(Complete: true, Failure: null)).Refetch!;
    }

    private void AdvanceTo(DateTimeOffset? at) => _clock.Advance(at!.Value - _clock.GetUtcNow());

    [Fact]
    public void Request_OnMacEnrolledOverMdmAlone_NeedsOnlyTheAcknowledgement()
    {
        var requested = Apply(null, new RefetchEvent.Requested(FirstCommand, OsqueryEnrolled: false));
        _clock.Advance(TimeSpan.FromSeconds(3));
        var acked = Apply(requested.Refetch!, new RefetchEvent.MdmAnswered(1, null, SecondCommand));

        Assert.Null(requested.Refetch!.Osquery);
        Assert.Equal(RefetchStatus.Pending, requested.Refetch.Mdm!.Status);
        Assert.Equal(s_start + TimeSpan.FromMinutes(5), requested.Refetch.Deadline);
        Assert.Equal("MDM only: the host has no osquery agent enrolled", requested.Refetch.ToView("H").Note);
        Assert.Equal(RefetchStatus.Verified, acked.Refetch!.Status);
        Assert.Equal(s_start + TimeSpan.FromSeconds(3), acked.Refetch.CompletedAt);
        Assert.Equal(new Transition(_clock.GetUtcNow(), 1, RefetchStatus.Pending, RefetchStatus.Verified, null), acked.Transition);
    }

    [Fact]
    public void Request_OnMdmEnrolledMac_StartsBothPartsQueuesCommandsAndPushes()
    {
        var step = Apply(null, new RefetchEvent.Requested(FirstCommand));

        var refetch = step.Refetch!;
        Assert.Equal(RefetchStatus.Pending, refetch.Status);
        Assert.Equal(new RefetchPart { Status = RefetchStatus.Pending, Deadline = s_start + TimeSpan.FromMinutes(2), Attempt = 1, MaxAttempts = 3 }, refetch.Osquery);
        Assert.Equal(
            new RefetchPart { Status = RefetchStatus.Pending, Deadline = s_start + TimeSpan.FromMinutes(5), Attempt = 1, MaxAttempts = 3, CommandUuid = FirstCommand },
            refetch.Mdm);
        Assert.Equal(s_start + TimeSpan.FromMinutes(2), refetch.Deadline);
        Assert.Equal(MdmEffects.QueueDeviceInformation | MdmEffects.QueueProfileList | MdmEffects.Push, step.Mdm);
        Assert.True(step.MustPersist);
        Assert.Equal(DeadlineAction.Arm, step.Deadline);
        Assert.Equal(new Transition(s_start, 1, RefetchStatus.None, RefetchStatus.Pending, null), step.Transition);
    }

    [Fact]
    public void Request_OnMacWithoutMdm_IsOsqueryOnlyAndSaysSoInTheView()
    {
        var step = Apply(null, new RefetchEvent.Requested(MdmCommandUuid: null));

        Assert.Null(step.Refetch!.Mdm);
        Assert.Null(step.Refetch.Osquery);
        Assert.Equal(MdmEffects.None, step.Mdm);
        Assert.Equal(s_start + TimeSpan.FromMinutes(2), step.Refetch.Deadline);
        var view = step.Refetch.ToView("HOST");
        Assert.Equal("osquery only: the host is not enrolled in MDM", view.Note);
        Assert.Null(view.Mdm);
        Assert.Equal(RefetchStatus.Pending, view.Osquery!.Status);
    }

    [Fact]
    public void Request_OnLinux_IgnoresMdmEvenWhenOffered()
    {
        var linux = s_mac with { Name = "linux" };

        var step = Apply(null, new RefetchEvent.Requested(FirstCommand), linux);

        Assert.Null(step.Refetch!.Mdm);
        Assert.Equal(MdmEffects.None, step.Mdm);
        Assert.Null(step.Refetch.ToView("HOST").Note);
    }

    [Fact]
    public void Request_OnIpad_NeedsMdmAlone()
    {
        var refetch = Requested(s_ipad);

        Assert.Null(refetch.Osquery);
        Assert.Equal(FirstCommand, refetch.Mdm!.CommandUuid);
        Assert.Equal(s_start + TimeSpan.FromMinutes(5), refetch.Deadline);
        Assert.False(refetch.OsqueryOwed);
        Assert.False(Apply(refetch, new RefetchEvent.QueriesHandedOut(), s_ipad).Changed);

        var step = Apply(refetch, new RefetchEvent.MdmAnswered(1, null, SecondCommand), s_ipad);

        Assert.Equal(RefetchStatus.Verified, step.Refetch!.Status);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void Request_OnIpadNotEnrolledInMdm_FailsAtOnceWithUnenrolled()
    {
        var step = Apply(null, new RefetchEvent.Requested(MdmCommandUuid: null), s_ipad);

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(ReasonCodes.MdmUnenrolled, step.Refetch.Reason!.Code);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void Request_TwiceWhileInFlight_KeepsOneEpochAndQueuesNothingMore()
    {
        var first = Requested();

        var second = Apply(first, new RefetchEvent.Requested(SecondCommand));

        Assert.False(second.Changed);
        Assert.Same(first, second.Refetch);
        Assert.Equal(MdmEffects.None, second.Mdm);
    }

    [Fact]
    public void HandOut_OfThisEpochsDeviceInformation_MakesTheMdmPartVerifyingWithoutAWrite()
    {
        var pending = Requested();
        _clock.Advance(TimeSpan.FromSeconds(10));

        var step = Apply(pending, new RefetchEvent.MdmCommandHandedOut(1));

        Assert.Equal(RefetchStatus.Verifying, step.Refetch!.Mdm!.Status);
        Assert.Equal(_clock.GetUtcNow(), step.Refetch.Mdm.HandedOutAt);
        Assert.Equal(s_start + TimeSpan.FromMinutes(5), step.Refetch.Mdm.Deadline);
        Assert.Equal(RefetchStatus.Verifying, step.Refetch.Status);
        Assert.False(step.MustPersist, "the MDM hand-out should ride along with the next write");
        Assert.False(Apply(step.Refetch, new RefetchEvent.MdmCommandHandedOut(1)).Changed);
        Assert.False(Apply(pending, new RefetchEvent.MdmCommandHandedOut(0)).Changed);
    }

    [Fact]
    public void Ack_ThenOsqueryResults_VerifyTheEpoch()
    {
        var refetch = Requested();
        _clock.Advance(TimeSpan.FromSeconds(5));

        var acked = Apply(refetch, new RefetchEvent.MdmAnswered(1, null, SecondCommand));
        _clock.Advance(TimeSpan.FromSeconds(5));
        var verified = OsqueryAnswered(acked.Refetch!);

        Assert.Equal(RefetchStatus.Verifying, acked.Refetch!.Status);
        Assert.Equal(RefetchStatus.Verified, acked.Refetch.Mdm!.Status);
        Assert.Equal(s_start + TimeSpan.FromSeconds(5), acked.Refetch.Mdm.CompletedAt);
        Assert.Equal(s_start + TimeSpan.FromMinutes(2), acked.Refetch.Deadline);
        Assert.Equal(MdmEffects.None, acked.Mdm);
        Assert.Equal(RefetchStatus.Verified, verified.Status);
        Assert.Equal(_clock.GetUtcNow(), verified.CompletedAt);
        Assert.Null(verified.Deadline);
    }

    [Fact]
    public void OsqueryResults_ThenAck_VerifyTheEpoch()
    {
        var refetch = Requested();
        var handedOut = Apply(refetch, new RefetchEvent.QueriesHandedOut()).Refetch!;
        var osqueryDone = Apply(handedOut, new RefetchEvent.ResultsReceived(true, null));

        var step = Apply(osqueryDone.Refetch!, new RefetchEvent.MdmAnswered(1, null, SecondCommand));

        Assert.Equal(RefetchStatus.Verifying, handedOut.Status);
        Assert.Equal(RefetchStatus.Verifying, osqueryDone.Refetch!.Status);
        Assert.Equal(RefetchStatus.Verified, osqueryDone.Refetch.Osquery!.Status);
        Assert.Equal(s_start + TimeSpan.FromMinutes(5), osqueryDone.Refetch.Deadline);
        Assert.Equal(RefetchStatus.Verified, step.Refetch!.Status);
        Assert.Equal(new Transition(s_start, 1, RefetchStatus.Verifying, RefetchStatus.Verified, null), step.Transition);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void Ack_OfAnOlderEpoch_IsIgnored()
    {
        var failed = Requested() with { Status = RefetchStatus.Failed, Deadline = null };
        var second = Apply(failed, new RefetchEvent.Requested(SecondCommand)).Refetch!;

        var step = Apply(second, new RefetchEvent.MdmAnswered(1, null, FirstCommand));

        Assert.Equal(2, second.Epoch);
        Assert.False(step.Changed);
        Assert.Equal(RefetchStatus.Pending, step.Refetch!.Mdm!.Status);
    }

    [Fact]
    public void Error_OnDeviceInformation_RetriesWithANewCommandAndTheErrorChain()
    {
        var refetch = Requested();
        _clock.Advance(TimeSpan.FromSeconds(20));
        var failure = new Reason(ReasonCodes.MdmError, "The device answered DeviceInformation with Error: MCMDMErrorDomain 12021: busy.");

        var step = Apply(refetch, new RefetchEvent.MdmAnswered(1, failure, SecondCommand));

        var mdm = step.Refetch!.Mdm!;
        Assert.Equal(RefetchStatus.Pending, mdm.Status);
        Assert.Equal(2, mdm.Attempt);
        Assert.Equal(SecondCommand, mdm.CommandUuid);
        Assert.Equal(failure, mdm.Reason);
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromMinutes(5) + TimeSpan.FromMinutes(1), mdm.Deadline);
        Assert.Equal(MdmEffects.QueueDeviceInformation | MdmEffects.Push, step.Mdm);
        Assert.Equal(new Transition(_clock.GetUtcNow(), 1, RefetchStatus.Pending, RefetchStatus.Pending, failure), step.Transition);
    }

    [Fact]
    public void Error_OnTheLastMdmAttempt_FailsTheRefetchAndDropsItsCommands()
    {
        var refetch = Requested();
        refetch = refetch with { Mdm = refetch.Mdm! with { Attempt = 3 } };
        var failure = new Reason(ReasonCodes.MdmError, "boom");

        var step = Apply(refetch, new RefetchEvent.MdmAnswered(1, failure, SecondCommand));

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(failure, step.Refetch.Reason);
        Assert.Null(step.Refetch.Deadline);
        Assert.Null(step.Refetch.Osquery!.Deadline);
        Assert.Equal(RefetchStatus.Pending, step.Refetch.Osquery.Status);
        Assert.Equal(MdmEffects.DropCommands, step.Mdm);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void MdmDeadline_OneTickEarly_ChangesNothing()
    {
        var refetch = OsqueryAnswered(Requested());
        AdvanceTo(refetch.Mdm!.Deadline - s_tick);

        var step = Apply(refetch, new RefetchEvent.DeadlineReached(s_start, new MdmActivity(0, s_start, null)));

        Assert.False(step.Changed);
    }

    [Fact]
    public void MdmDeadline_ExactlyAtIt_RetriesWithAPushNowAndTheCommandStillQueued()
    {
        var refetch = OsqueryAnswered(Requested());
        AdvanceTo(refetch.Mdm!.Deadline);

        var step = Apply(refetch, new RefetchEvent.DeadlineReached(s_start, new MdmActivity(2, s_start, null)));

        var mdm = step.Refetch!.Mdm!;
        Assert.Equal(2, mdm.Attempt);
        Assert.Equal(FirstCommand, mdm.CommandUuid);
        Assert.Equal(MdmEffects.Push, step.Mdm);
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromMinutes(5) + TimeSpan.FromMinutes(1), mdm.Deadline);
        Assert.Equal(mdm.Deadline, step.Refetch.Deadline);
        Assert.Equal(ReasonCodes.MdmNoAck, mdm.Reason!.Code);
        Assert.Equal(
            "The device did not acknowledge DeviceInformation within 00:05:00 (attempt 1 of 3); answered NotNow 2 times; " +
            "last push at 2026-12-01T09:00:00Z.",
            mdm.Reason.Message);

        // osquery already answered: the retried MDM part waits again, the refetch stays under way.
        Assert.Equal(RefetchStatus.Pending, mdm.Status);
        Assert.Equal(RefetchStatus.Verifying, step.Transition!.To);
    }

    [Fact]
    public void MdmDeadline_OnTheLastAttempt_FailsWithNoAck()
    {
        var refetch = OsqueryAnswered(Requested());
        for (var attempt = 1; attempt < 3; attempt++)
        {
            AdvanceTo(refetch.Deadline);
            refetch = Apply(refetch, new RefetchEvent.DeadlineReached(null, new MdmActivity(0, null, null))).Refetch!;
        }

        AdvanceTo(refetch.Deadline);
        var step = Apply(refetch, new RefetchEvent.DeadlineReached(null, new MdmActivity(3, null, null)));

        Assert.Equal(s_start + TimeSpan.FromMinutes(5 + 6 + 6.5), _clock.GetUtcNow());
        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(ReasonCodes.MdmNoAck, step.Refetch.Reason!.Code);
        Assert.Equal(
            "The device did not acknowledge DeviceInformation within 00:06:30 (attempt 3 of 3); answered NotNow 3 times; " +
            "never pushed (no push token yet).",
            step.Refetch.Reason.Message);
        Assert.Equal(MdmEffects.DropCommands, step.Mdm);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void MdmDeadline_AfterAFailedPush_GivesThePushFailureAsTheReason()
    {
        var refetch = Requested(s_ipad);
        refetch = refetch with { Mdm = refetch.Mdm! with { Attempt = 3 } };
        var pushFailure = new Reason(ReasonCodes.PushFailed, "The push certificate expired at 2026-11-30T00:00:00Z.");
        AdvanceTo(refetch.Deadline);

        var step = Apply(refetch, new RefetchEvent.DeadlineReached(null, new MdmActivity(0, s_start, pushFailure)), s_ipad);

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(pushFailure, step.Refetch.Reason);
        Assert.Equal(pushFailure, step.Transition!.Reason);
    }

    [Fact]
    public void OsqueryFailure_FailsTheRefetchAtOnceAndDropsTheMdmCommands()
    {
        var refetch = Requested();
        refetch = refetch with { Osquery = refetch.Osquery! with { Attempt = 3 } };
        var handedOut = Apply(refetch, new RefetchEvent.QueriesHandedOut()).Refetch!;
        var failure = new Reason(ReasonCodes.AgentError, "no such table: os_version");

        var step = Apply(handedOut, new RefetchEvent.ResultsReceived(false, failure));

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(failure, step.Refetch.Reason);
        Assert.Equal(RefetchStatus.Pending, step.Refetch.Mdm!.Status);
        Assert.Null(step.Refetch.Mdm.Deadline);
        Assert.Equal(MdmEffects.DropCommands, step.Mdm);
    }

    [Fact]
    public void OsqueryDeadline_WithMdmPending_RetriesOnlyTheOsqueryPart()
    {
        var refetch = Requested();
        AdvanceTo(refetch.Osquery!.Deadline);

        var step = Apply(refetch, new RefetchEvent.DeadlineReached(s_start, new MdmActivity(0, null, null)));

        Assert.Equal(2, step.Refetch!.Osquery!.Attempt);
        Assert.Equal(ReasonCodes.AgentSilent, step.Refetch.Reason!.Code);
        Assert.Equal(1, step.Refetch.Mdm!.Attempt);
        Assert.Equal(s_start + TimeSpan.FromMinutes(2) + TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(30), step.Refetch.Deadline);
        Assert.Equal(MdmEffects.None, step.Mdm);
    }

    [Fact]
    public void CheckOut_FailsTheMdmPartAtOnce()
    {
        var refetch = Requested();

        var step = Apply(refetch, new RefetchEvent.MdmCheckedOut());

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(ReasonCodes.MdmUnenrolled, step.Refetch.Reason!.Code);
        Assert.Equal(RefetchStatus.Failed, step.Refetch.Mdm!.Status);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void Reenrollment_QueuesTheEpochsDeviceInformationAgainUnderANewUuid()
    {
        var verifying = Apply(Requested(), new RefetchEvent.MdmCommandHandedOut(1)).Refetch!;

        var step = Apply(verifying, new RefetchEvent.MdmReenrolled(SecondCommand));

        Assert.Equal(RefetchStatus.Pending, step.Refetch!.Mdm!.Status);
        Assert.Equal(SecondCommand, step.Refetch.Mdm.CommandUuid);
        Assert.Null(step.Refetch.Mdm.HandedOutAt);
        Assert.Equal(MdmEffects.QueueDeviceInformation | MdmEffects.Push, step.Mdm);
        Assert.True(step.MustPersist);
    }

    [Theory]
    [InlineData(false, false, false, RefetchStatus.Pending)]
    [InlineData(true, false, false, RefetchStatus.Verifying)]
    [InlineData(false, false, true, RefetchStatus.Verifying)]
    [InlineData(true, true, false, RefetchStatus.Verifying)]
    [InlineData(true, true, true, RefetchStatus.Verifying)]
    public void Status_IsVerifyingWhenAnyPartIsVerifyingOrMet_ElsePending(bool queriesHandedOut, bool resultsReceived, bool commandHandedOut, RefetchStatus expected)
    {
        var refetch = Requested();
        var osqueryDeadline = refetch.Deadline;
        if (queriesHandedOut)
        {
            refetch = Apply(refetch, new RefetchEvent.QueriesHandedOut()).Refetch!;
            osqueryDeadline = refetch.Osquery!.Deadline;
        }

        if (resultsReceived)
        {
            refetch = Apply(refetch, new RefetchEvent.ResultsReceived(true, null)).Refetch!;
            osqueryDeadline = null;
        }

        if (commandHandedOut)
        {
            refetch = Apply(refetch, new RefetchEvent.MdmCommandHandedOut(1)).Refetch!;
        }

        Assert.Equal(expected, refetch.Status);
        Assert.Equal(osqueryDeadline ?? s_start + TimeSpan.FromMinutes(5), refetch.Deadline);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 60)]
    [InlineData(3, 90)]
    public void MdmBackoff_DoublesFromTheSecondAttemptUpToTheCap(int attempt, int expectedSeconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), s_mac.MdmBackoffFor(attempt));
    }
}
