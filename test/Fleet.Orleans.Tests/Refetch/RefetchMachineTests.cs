using Fleet.Contracts;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Refetch;

public sealed class RefetchMachineTests
{
    private static readonly DateTimeOffset s_start = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_tick = TimeSpan.FromTicks(1);

    private static readonly RefetchPolicy s_policy = new(
        "linux",
        PickupTimeout: TimeSpan.FromMinutes(2),
        ResultsTimeout: TimeSpan.FromMinutes(1),
        MaxAttempts: 3,
        RetryBackoff: TimeSpan.FromSeconds(30),
        MaxRetryBackoff: TimeSpan.FromSeconds(45));

    private readonly FakeTimeProvider _clock = new(s_start);

    private RefetchStep Apply(RefetchRecord? current, RefetchEvent evt) =>
        RefetchMachine.Apply(current, evt, s_policy, _clock.GetUtcNow());

    private RefetchRecord Requested() => Apply(null, new RefetchEvent.Requested()).Refetch!;

    [Fact]
    public void Request_OnNewHost_StartsEpochOnePendingWithPickupDeadline()
    {
        var step = Apply(null, new RefetchEvent.Requested());

        Assert.True(step.Changed);
        Assert.True(step.MustPersist);
        Assert.Equal(DeadlineAction.Arm, step.Deadline);
        var refetch = step.Refetch!;
        Assert.Equal(1, refetch.Epoch);
        Assert.Equal(RefetchStatus.Pending, refetch.Status);
        Assert.Equal(s_start, refetch.RequestedAt);
        Assert.Equal(s_start + s_policy.PickupTimeout, refetch.Deadline);
        Assert.Equal(1, refetch.Attempt);
        Assert.Equal(3, refetch.MaxAttempts);
        Assert.Equal(new Transition(s_start, 1, RefetchStatus.None, RefetchStatus.Pending, null), step.Transition);
    }

    [Fact]
    public void Request_WhileInFlight_KeepsEpochAndDeadline()
    {
        var first = Requested();
        _clock.Advance(TimeSpan.FromSeconds(20));

        var step = Apply(first, new RefetchEvent.Requested());

        Assert.False(step.Changed);
        Assert.Same(first, step.Refetch);
        Assert.Null(step.Transition);
    }

    [Fact]
    public void Request_AfterTerminal_StartsNextEpoch()
    {
        var failed = Requested() with { Status = RefetchStatus.Failed, Deadline = null };
        _clock.Advance(TimeSpan.FromMinutes(5));

        var step = Apply(failed, new RefetchEvent.Requested());

        Assert.Equal(2, step.Refetch!.Epoch);
        Assert.Equal(RefetchStatus.Pending, step.Refetch.Status);
        Assert.Equal(_clock.GetUtcNow() + s_policy.PickupTimeout, step.Refetch.Deadline);
        Assert.Equal(RefetchStatus.Failed, step.Transition!.From);
    }

    [Fact]
    public void HandOut_WhenPending_MovesToVerifyingWithResultsDeadline()
    {
        var pending = Requested();
        _clock.Advance(TimeSpan.FromSeconds(10));

        var step = Apply(pending, new RefetchEvent.QueriesHandedOut());

        Assert.Equal(RefetchStatus.Verifying, step.Refetch!.Status);
        Assert.Equal(_clock.GetUtcNow(), step.Refetch.HandedOutAt);
        Assert.Equal(_clock.GetUtcNow() + s_policy.ResultsTimeout, step.Refetch.Deadline);
        Assert.Equal(DeadlineAction.Arm, step.Deadline);
        Assert.False(step.MustPersist, "the transient verifying state should ride along with the next write");
    }

    [Fact]
    public void HandOut_WhenVerifying_ChangesNothing()
    {
        var verifying = Apply(Requested(), new RefetchEvent.QueriesHandedOut()).Refetch!;
        _clock.Advance(TimeSpan.FromSeconds(10));

        var step = Apply(verifying, new RefetchEvent.QueriesHandedOut());

        Assert.False(step.Changed);
        Assert.Equal(verifying.Deadline, step.Refetch!.Deadline);
    }

    [Fact]
    public void Results_BeforeAnyHandOut_AreStaleAndLeaveThePendingEpochOpen()
    {
        // Agent read (nothing owed), operator requested, agent wrote what it had: the epoch must stay open.
        var pending = Requested();

        var step = Apply(pending, new RefetchEvent.ResultsReceived(Complete: true, Failure: null));

        Assert.False(step.Changed);
        Assert.Equal(RefetchStatus.Pending, step.Refetch!.Status);
    }

    [Fact]
    public void Results_CompleteAfterHandOut_Verify()
    {
        var verifying = Apply(Requested(), new RefetchEvent.QueriesHandedOut()).Refetch!;
        _clock.Advance(TimeSpan.FromSeconds(3));

        var step = Apply(verifying, new RefetchEvent.ResultsReceived(Complete: true, Failure: null));

        Assert.Equal(RefetchStatus.Verified, step.Refetch!.Status);
        Assert.Equal(_clock.GetUtcNow(), step.Refetch.CompletedAt);
        Assert.Null(step.Refetch.Deadline);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void Results_Incomplete_LeaveVerifying()
    {
        var verifying = Apply(Requested(), new RefetchEvent.QueriesHandedOut()).Refetch!;

        var step = Apply(verifying, new RefetchEvent.ResultsReceived(Complete: false, Failure: null));

        Assert.False(step.Changed);
        Assert.Equal(RefetchStatus.Verifying, step.Refetch!.Status);
    }

    [Fact]
    public void Results_WithQueryError_CountAsFailedAttemptWithAgentMessage()
    {
        var verifying = Apply(Requested(), new RefetchEvent.QueriesHandedOut()).Refetch!;
        var failure = new Reason(ReasonCodes.AgentError, "no such table: os_version");

        var step = Apply(verifying, new RefetchEvent.ResultsReceived(Complete: false, Failure: failure));

        Assert.Equal(RefetchStatus.Pending, step.Refetch!.Status);
        Assert.Equal(2, step.Refetch.Attempt);
        Assert.Equal(failure, step.Refetch.Reason);
        Assert.Equal(_clock.GetUtcNow() + s_policy.PickupTimeout + s_policy.RetryBackoff, step.Refetch.Deadline);
    }

    [Fact]
    public void Results_WithQueryErrorOnLastAttempt_Fail()
    {
        var lastAttempt = Apply(Requested() with { Attempt = 3 }, new RefetchEvent.QueriesHandedOut()).Refetch!;
        var failure = new Reason(ReasonCodes.AgentError, "boom");

        var step = Apply(lastAttempt, new RefetchEvent.ResultsReceived(Complete: false, Failure: failure));

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(failure, step.Refetch.Reason);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void Results_WithQueryErrorResentAfterTheRetry_DoNotCountASecondAttempt()
    {
        var verifying = Apply(Requested(), new RefetchEvent.QueriesHandedOut()).Refetch!;
        var failure = new Reason(ReasonCodes.AgentError, "no such table: os_version");
        var retried = Apply(verifying, new RefetchEvent.ResultsReceived(false, failure)).Refetch!;

        var step = Apply(retried, new RefetchEvent.ResultsReceived(false, failure));

        Assert.False(step.Changed);
        Assert.Equal(2, step.Refetch!.Attempt);
    }

    [Fact]
    public void Deadline_OneTickEarly_ChangesNothing()
    {
        var pending = Requested();
        _clock.Advance(s_policy.PickupTimeout - s_tick);

        var step = Apply(pending, new RefetchEvent.DeadlineReached(LastSeenAt: s_start));

        Assert.False(step.Changed);
        Assert.Equal(RefetchStatus.Pending, step.Refetch!.Status);
    }

    [Fact]
    public void Deadline_ExactlyAtPickupDeadline_RetriesWithBackoffAndSilentReason()
    {
        var pending = Requested();
        _clock.Advance(s_policy.PickupTimeout);

        var step = Apply(pending, new RefetchEvent.DeadlineReached(LastSeenAt: s_start));

        var retry = step.Refetch!;
        Assert.Equal(RefetchStatus.Pending, retry.Status);
        Assert.Equal(2, retry.Attempt);
        Assert.Equal(1, retry.Epoch);
        Assert.Equal(ReasonCodes.AgentSilent, retry.Reason!.Code);
        Assert.Contains("attempt 1 of 3", retry.Reason.Message, StringComparison.Ordinal);
        Assert.Contains("last seen at 2026-12-01T09:00:00Z", retry.Reason.Message, StringComparison.Ordinal);
        Assert.Equal(_clock.GetUtcNow() + s_policy.PickupTimeout + TimeSpan.FromSeconds(30), retry.Deadline);
        Assert.Equal(DeadlineAction.Arm, step.Deadline);
    }

    [Fact]
    public void Deadline_OnLastAttempt_FailsWithReasonThatSaysWhatWasMissing()
    {
        var refetch = Requested();
        for (var attempt = 1; attempt < 3; attempt++)
        {
            _clock.Advance(refetch.Deadline!.Value - _clock.GetUtcNow());
            refetch = Apply(refetch, new RefetchEvent.DeadlineReached(LastSeenAt: null)).Refetch!;
        }

        _clock.Advance(refetch.Deadline!.Value - _clock.GetUtcNow());
        var step = Apply(refetch, new RefetchEvent.DeadlineReached(LastSeenAt: null));

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(ReasonCodes.AgentSilent, step.Refetch.Reason!.Code);
        Assert.Contains("never seen since enrollment", step.Refetch.Reason.Message, StringComparison.Ordinal);
        Assert.Contains("attempt 3 of 3", step.Refetch.Reason.Message, StringComparison.Ordinal);
        Assert.Equal(_clock.GetUtcNow(), step.Refetch.CompletedAt);
        Assert.Equal(DeadlineAction.Disarm, step.Deadline);
    }

    [Fact]
    public void Deadline_WhileVerifying_ReportsNoResults()
    {
        var verifying = Apply(Requested(), new RefetchEvent.QueriesHandedOut()).Refetch!;
        _clock.Advance(s_policy.ResultsTimeout);

        var step = Apply(verifying, new RefetchEvent.DeadlineReached(LastSeenAt: s_start));

        Assert.Equal(RefetchStatus.Pending, step.Refetch!.Status);
        Assert.Equal(ReasonCodes.AgentNoResults, step.Refetch.Reason!.Code);
        Assert.Equal(new Transition(_clock.GetUtcNow(), 1, RefetchStatus.Verifying, RefetchStatus.Pending, step.Refetch.Reason), step.Transition);
    }

    [Fact]
    public void Results_FromEarlierHandOutAfterRetry_StillVerifyTheEpoch()
    {
        // The agent took the queries, its attempt timed out, then its late answer arrived.
        var verifying = Apply(Requested(), new RefetchEvent.QueriesHandedOut()).Refetch!;
        _clock.Advance(s_policy.ResultsTimeout);
        var retried = Apply(verifying, new RefetchEvent.DeadlineReached(null)).Refetch!;

        var step = Apply(retried, new RefetchEvent.ResultsReceived(Complete: true, Failure: null));

        Assert.Equal(RefetchStatus.Verified, step.Refetch!.Status);
        Assert.Null(step.Refetch.Reason);
    }

    [Theory]
    [InlineData(RefetchStatus.Verified)]
    [InlineData(RefetchStatus.Failed)]
    public void EventsOtherThanRequest_OnTerminalRefetch_ChangeNothing(RefetchStatus terminal)
    {
        var done = Requested() with { Status = terminal, Deadline = null };
        _clock.Advance(TimeSpan.FromHours(1));

        Assert.False(Apply(done, new RefetchEvent.QueriesHandedOut()).Changed);
        Assert.False(Apply(done, new RefetchEvent.ResultsReceived(true, null)).Changed);
        Assert.False(Apply(done, new RefetchEvent.DeadlineReached(null)).Changed);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 30)]
    [InlineData(3, 45)]
    [InlineData(40, 45)]
    public void Backoff_DoublesFromSecondAttemptUpToTheCap(int attempt, int expectedSeconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), s_policy.BackoffFor(attempt));
    }
}
