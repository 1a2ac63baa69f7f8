using System.Globalization;
using Fleet.Contracts;

namespace Fleet.Grains.Refetch;

/// <summary>Something that happened to a host's refetch.</summary>
public abstract record RefetchEvent
{
    /// <summary>An operator asked for fresh vitals.</summary>
    public sealed record Requested : RefetchEvent;

    /// <summary>The agent's <c>distributed/read</c> took the detail queries.</summary>
    public sealed record QueriesHandedOut : RefetchEvent;

    /// <summary>
    /// The agent's <c>distributed/write</c> carried detail results. <paramref name="Complete"/> is true when
    /// every required query was answered; <paramref name="Failure"/> names a query the agent reported
    /// an error for.
    /// </summary>
    public sealed record ResultsReceived(bool Complete, Reason? Failure) : RefetchEvent;

    /// <summary>A timer or reminder woke the host; <paramref name="LastSeenAt"/> goes into the reason.</summary>
    public sealed record DeadlineReached(DateTimeOffset? LastSeenAt) : RefetchEvent;
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
    bool MustPersist = true)
{
    public static RefetchStep Unchanged(RefetchRecord? refetch) => new(refetch, false, null, DeadlineAction.None, false);
}

/// <summary>
/// The refetch state machine: a pure function from (record, event, policy, now) to the next step. The
/// grain loads state, calls <see cref="Apply"/>, persists when <see cref="RefetchStep.Changed"/>, and runs the
/// deadline action. Every rule of the lifecycle lives here, so it is read and tested in one place.
/// </summary>
public static class RefetchMachine
{
    public static RefetchStep Apply(RefetchRecord? current, RefetchEvent evt, RefetchPolicy policy, DateTimeOffset now) =>
        evt switch
        {
            RefetchEvent.Requested => OnRequested(current, policy, now),
            RefetchEvent.QueriesHandedOut when current is { InFlight: true } => OnHandedOut(current, policy, now),
            RefetchEvent.ResultsReceived results when current is { InFlight: true } => OnResults(current, results, policy, now),
            RefetchEvent.DeadlineReached deadline when current is { InFlight: true } => OnDeadline(current, deadline, policy, now),
            _ => RefetchStep.Unchanged(current),
        };

    private static RefetchStep OnRequested(RefetchRecord? current, RefetchPolicy policy, DateTimeOffset now)
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

        return Move(current?.Status ?? RefetchStatus.None, next, now, DeadlineAction.Arm);
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
