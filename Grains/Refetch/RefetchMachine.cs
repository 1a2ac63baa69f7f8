using System.Globalization;
using Fleet.Contracts;

namespace Fleet.Grains.Refetch;

/// <summary>Something that happened to a host's refetch.</summary>
public abstract record RefetchEvent
{
    /// <summary>
    /// An operator asked for fresh vitals. <paramref name="MdmCommandUuid"/> is set when the host is enrolled
    /// in MDM: the UUID for the epoch's <c>DeviceInformation</c>, should the policy need MDM.
    /// </summary>
    public sealed record Requested(string? MdmCommandUuid = null, bool OsqueryEnrolled = true) : RefetchEvent;

    /// <summary>The agent's <c>distributed/read</c> took the detail queries.</summary>
    public sealed record QueriesHandedOut : RefetchEvent;

    /// <summary>
    /// The agent's <c>distributed/write</c> carried detail results. <paramref name="Complete"/> is true when
    /// every required query was answered; <paramref name="Failure"/> names a query the agent reported
    /// an error for.
    /// </summary>
    public sealed record ResultsReceived(bool Complete, Reason? Failure) : RefetchEvent;

    /// <summary>
    /// A timer or reminder woke the host; <paramref name="LastSeenAt"/> and <paramref name="Mdm"/> go into the reason.
    /// </summary>
    public sealed record DeadlineReached(DateTimeOffset? LastSeenAt, MdmActivity? Mdm = null) : RefetchEvent;

    /// <summary>The device took the <c>DeviceInformation</c> command queued for <paramref name="Epoch"/>.</summary>
    public sealed record MdmCommandHandedOut(int Epoch) : RefetchEvent;

    /// <summary>
    /// The device answered the <c>DeviceInformation</c> of <paramref name="Epoch"/>: acknowledged, or an error
    /// (<paramref name="Failure"/>). <paramref name="NextCommandUuid"/> names the command a retry queues.
    /// </summary>
    public sealed record MdmAnswered(int Epoch, Reason? Failure, string NextCommandUuid) : RefetchEvent;

    /// <summary>The device enrolled again, which dropped its queue: the epoch's command is queued anew.</summary>
    public sealed record MdmReenrolled(string NextCommandUuid) : RefetchEvent;

    /// <summary>The device removed its MDM enrollment.</summary>
    public sealed record MdmCheckedOut : RefetchEvent;

    /// <summary>The device's identity certificate expired: MDM cannot reach it until it enrolls again.</summary>
    public sealed record IdentityExpired(Reason Reason) : RefetchEvent;
}

/// <summary>What the host knows of its MDM channel when a deadline passes, for the reason it gives.</summary>
public sealed record MdmActivity(int NotNowCount, DateTimeOffset? LastPushAt, Reason? PushFailure);

/// <summary>Work on the MDM command queue that a step asks of the grain.</summary>
[Flags]
public enum MdmEffects
{
    None = 0,

    /// <summary>Queue <c>DeviceInformation</c> for the epoch under the MDM part's command UUID.</summary>
    QueueDeviceInformation = 1,

    /// <summary>Queue <c>ProfileList</c> for the epoch.</summary>
    QueueProfileList = 2,

    /// <summary>Push now, whatever the re-push schedule says.</summary>
    Push = 4,

    /// <summary>Drop the epoch's commands that are still queued.</summary>
    DropCommands = 8,
}

/// <summary>What the grain must do with the deadline after a step.</summary>
public enum DeadlineAction
{
    /// <summary>Leave the armed deadline as it is.</summary>
    None,

    /// <summary>Arm (or move) the timer and make sure the durable reminder exists.</summary>
    Arm,

    /// <summary>Nothing is in flight any more: drop the timer and the reminder.</summary>
    Disarm,
}

/// <summary>
/// The result of applying one event: the new record, the transition (if the status moved), the deadline
/// work, and whether the change must reach storage before it is acknowledged.
/// </summary>
public sealed record RefetchStep(
    RefetchRecord? Refetch,
    bool Changed,
    Transition? Transition,
    DeadlineAction Deadline,
    bool MustPersist = true,
    MdmEffects Mdm = MdmEffects.None)
{
    public static RefetchStep Unchanged(RefetchRecord? refetch) => new(refetch, false, null, DeadlineAction.None, false);
}

/// <summary>
/// The refetch state machine: a pure function from (record, event, policy, now) to the next step. The
/// grain loads state, calls <see cref="Apply"/>, persists when <see cref="RefetchStep.Changed"/>, and runs the
/// deadline action and the MDM effects. Every rule of the lifecycle lives here, so it is read and tested in
/// one place. The osquery rules are written once, for a record that needs osquery alone; a refetch that
/// also needs MDM runs them on its osquery part and combines the parts (see <c>RefetchMachine.Mdm.cs</c>).
/// </summary>
public static partial class RefetchMachine
{
    public static RefetchStep Apply(RefetchRecord? current, RefetchEvent evt, RefetchPolicy policy, DateTimeOffset now)
    {
        if (evt is RefetchEvent.Requested requested)
        {
            return OnRequested(current, requested, policy, now);
        }

        if (current is not { InFlight: true })
        {
            return RefetchStep.Unchanged(current);
        }

        return current.Mdm is null ? ApplyOsquery(current, evt, policy, now) : ApplyCombined(current, evt, policy, now);
    }

    private static RefetchStep ApplyOsquery(RefetchRecord current, RefetchEvent evt, RefetchPolicy policy, DateTimeOffset now) =>
        evt switch
        {
            RefetchEvent.QueriesHandedOut when current.InFlight => OnHandedOut(current, policy, now),
            RefetchEvent.ResultsReceived results when current.InFlight => OnResults(current, results, policy, now),
            RefetchEvent.DeadlineReached deadline when current.InFlight => OnDeadline(current, deadline, policy, now),
            _ => RefetchStep.Unchanged(current),
        };

    private static RefetchStep OnRequested(
        RefetchRecord? current, RefetchEvent.Requested requested, RefetchPolicy policy, DateTimeOffset now)
    {
        if (current is { InFlight: true })
        {
            return RefetchStep.Unchanged(current);
        }

        var next = new RefetchRecord
        {
            Epoch = (current?.Epoch ?? 0) + 1,
            Status = RefetchStatus.Pending,
            RequestedAt = now,
            Deadline = now + policy.PickupTimeout,
            Attempt = 1,
            MaxAttempts = policy.MaxAttempts,
            Policy = policy.Name,
        };
        var from = current?.Status ?? RefetchStatus.None;
        if (policy.Channels == RefetchChannels.Osquery
            || (policy.Channels == RefetchChannels.OsqueryAndMdm && requested.MdmCommandUuid is null))
        {
            return Move(from, next, now, DeadlineAction.Arm);
        }

        return requested.MdmCommandUuid is { } uuid
            ? StartWithMdm(from, next, uuid, requested.OsqueryEnrolled, policy, now)
            : Move(from, NotEnrolled(next, policy, now), now, DeadlineAction.Disarm);
    }

    private static RefetchStep OnHandedOut(RefetchRecord current, RefetchPolicy policy, DateTimeOffset now)
    {
        if (current.Status == RefetchStatus.Verifying)
        {
            // The agent asked again before answering; it gets the same queries and the same deadline.
            return RefetchStep.Unchanged(current);
        }

        var next = current with
        {
            Status = RefetchStatus.Verifying,
            HandedOutAt = now,
            Deadline = now + policy.ResultsTimeout + policy.BackoffFor(current.Attempt),
        };

        // Verifying is transient: it rides along with the next real write. If the silo dies first, the
        // stored Pending (with its earlier deadline and its reminder) stands, and the agent's next read
        // hands the queries out again. That saves one storage write in every refetch.
        return Move(current.Status, next, now, DeadlineAction.Arm) with { MustPersist = false };
    }

    private static RefetchStep OnResults(
        RefetchRecord current, RefetchEvent.ResultsReceived results, RefetchPolicy policy, DateTimeOffset now)
    {
        if (current.HandedOutAt is null)
        {
            // Results of a read that came before this epoch's request: vitals only, the epoch stays open.
            return RefetchStep.Unchanged(current);
        }

        if (results.Failure is { } failure)
        {
            // Only the attempt whose queries are out can fail. A Pending refetch that already handed out
            // queries is waiting for a retry's read; an error now is a resend of one already counted.
            return current.Status == RefetchStatus.Verifying
                ? FailAttempt(current, failure, policy, now)
                : RefetchStep.Unchanged(current);
        }

        if (!results.Complete)
        {
            return RefetchStep.Unchanged(current);
        }

        var next = current with
        {
            Status = RefetchStatus.Verified,
            Deadline = null,
            Reason = null,
            CompletedAt = now,
        };

        return Move(current.Status, next, now, DeadlineAction.Disarm);
    }

    private static RefetchStep OnDeadline(
        RefetchRecord current, RefetchEvent.DeadlineReached deadline, RefetchPolicy policy, DateTimeOffset now)
    {
        if (current.Deadline is not { } due || now < due)
        {
            // An early or repeated wake-up (reminders are at-least-once): nothing is due yet.
            return RefetchStep.Unchanged(current);
        }

        var reason = current.Status == RefetchStatus.Pending
            ? new Reason(
                ReasonCodes.AgentSilent,
                $"The agent did not ask for its detail queries within {Span(due - StepStart(current, policy))} " +
                $"(attempt {current.Attempt} of {current.MaxAttempts}); {LastSeen(deadline.LastSeenAt)}.")
            : new Reason(
                ReasonCodes.AgentNoResults,
                $"The agent took its detail queries at {Instant(current.HandedOutAt)} but sent no results by " +
                $"{Instant(due)} (attempt {current.Attempt} of {current.MaxAttempts}); {LastSeen(deadline.LastSeenAt)}.");

        return FailAttempt(current, reason, policy, now);
    }

    private static RefetchStep FailAttempt(RefetchRecord current, Reason reason, RefetchPolicy policy, DateTimeOffset now)
    {
        if (current.Attempt >= current.MaxAttempts)
        {
            var failed = current with
            {
                Status = RefetchStatus.Failed,
                Deadline = null,
                Reason = reason,
                CompletedAt = now,
            };

            return Move(current.Status, failed, now, DeadlineAction.Disarm);
        }

        var attempt = current.Attempt + 1;
        var retry = current with
        {
            Status = RefetchStatus.Pending,
            Attempt = attempt,
            Reason = reason,
            Deadline = now + policy.PickupTimeout + policy.BackoffFor(attempt),
        };

        return Move(current.Status, retry, now, DeadlineAction.Arm);
    }

    private static RefetchStep Move(RefetchStatus from, RefetchRecord next, DateTimeOffset now, DeadlineAction deadline)
    {
        var transition = new Transition(now, next.Epoch, from, next.Status, next.Reason);

        return new RefetchStep(next, true, transition, deadline);
    }

    // The pickup window began at the request or at the retry that armed it; reconstructed for the message.
    private static DateTimeOffset StepStart(RefetchRecord current, RefetchPolicy policy) =>
        current.Deadline!.Value - policy.PickupTimeout - policy.BackoffFor(current.Attempt);

    private static string LastSeen(DateTimeOffset? lastSeenAt) =>
        lastSeenAt is { } seen ? $"last seen at {Instant(seen)}" : "never seen since enrollment";

    private static string Instant(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "an unknown time";

    private static string Span(TimeSpan span) => span.ToString("c", CultureInfo.InvariantCulture);
}
