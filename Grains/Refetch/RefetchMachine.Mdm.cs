using Fleet.Contracts;

namespace Fleet.Grains.Refetch;

// A refetch that needs MDM: its parts (osquery, when the policy also needs it, and MDM) each have their own
// deadline and attempts, and the record's status is their combination. The osquery part runs through the
// same rules as an osquery-only refetch.
public static partial class RefetchMachine
{
    private const MdmEffects QueueAndPush = MdmEffects.QueueDeviceInformation | MdmEffects.Push;

    private static RefetchStep StartWithMdm(
        RefetchStatus from, RefetchRecord osqueryOnly, string commandUuid, bool osqueryEnrolled, RefetchPolicy policy, DateTimeOffset now)
    {
        var mdm = new RefetchPart
        {
            Status = RefetchStatus.Pending,
            Deadline = now + policy.MdmAckTimeout,
            Attempt = 1,
            MaxAttempts = policy.MdmMaxAttempts,
            CommandUuid = commandUuid,
        };
        // A Mac enrolled over MDM alone has no osquery agent to answer: its acknowledgement is the whole refetch.
        var osquery = policy.Channels == RefetchChannels.OsqueryAndMdm && osqueryEnrolled ? osqueryOnly.OsqueryPart : null;
        var next = Combine(osqueryOnly, osquery, mdm, now, latestReason: null);

        return Move(from, next, now, DeadlineAction.Arm) with
        {
            Mdm = MdmEffects.QueueDeviceInformation | MdmEffects.QueueProfileList | MdmEffects.Push,
        };
    }

    // An iPad or iPhone that is not (or no longer) enrolled in MDM cannot answer; say so at once.
    private static RefetchRecord NotEnrolled(RefetchRecord pending, RefetchPolicy policy, DateTimeOffset now) =>
        pending with
        {
            Status = RefetchStatus.Failed,
            Deadline = null,
            CompletedAt = now,
            MaxAttempts = policy.MdmMaxAttempts,
            Reason = new Reason(
                ReasonCodes.MdmUnenrolled,
                $"The device is not enrolled in MDM, and policy {policy.Name} verifies through MDM alone."),
        };

    private static RefetchStep ApplyCombined(RefetchRecord current, RefetchEvent evt, RefetchPolicy policy, DateTimeOffset now)
    {
        var mdm = current.Mdm!;
        switch (evt)
        {
            case RefetchEvent.QueriesHandedOut or RefetchEvent.ResultsReceived:
                return StepOsquery(current, evt, policy, now);
            case RefetchEvent.DeadlineReached deadline:
                return OnCombinedDeadline(current, deadline, policy, now);
            case RefetchEvent.MdmCommandHandedOut handedOut when handedOut.Epoch == current.Epoch && mdm.Status == RefetchStatus.Pending:
                var verifying = mdm with { Status = RefetchStatus.Verifying, HandedOutAt = now };

                // Transient like the osquery hand-out: if it is lost, the device's answer still names this epoch.
                return Combined(current, current.Osquery, verifying, now, null) with { MustPersist = false };
            case RefetchEvent.MdmAnswered answered when answered.Epoch == current.Epoch && mdm.Live:
                return answered.Failure is { } failure
                    ? Combined(current, current.Osquery, FailMdmAttempt(mdm, failure, policy, now, answered.NextCommandUuid), now, failure)
                    : Combined(current, current.Osquery, Acknowledged(mdm, now), now, null);
            case RefetchEvent.MdmReenrolled reenrolled when mdm.Live:
                var requeued = mdm with { Status = RefetchStatus.Pending, HandedOutAt = null, CommandUuid = reenrolled.NextCommandUuid };

                return Combined(current, current.Osquery, requeued, now, null) with { Mdm = QueueAndPush };
            case RefetchEvent.MdmCheckedOut when mdm.Live:
                var reason = new Reason(
                    ReasonCodes.MdmUnenrolled,
                    $"The device checked out of MDM (its enrollment profile was removed) at {Instant(now)}.");

                return Combined(current, current.Osquery, Failed(mdm, reason, now), now, reason);
            case RefetchEvent.IdentityExpired expired when mdm.Live:
                // Nothing the device sends is accepted any more, so waiting for the deadline would only hide why.
                return Combined(current, current.Osquery, Failed(mdm, expired.Reason, now), now, expired.Reason);
            default:
                return RefetchStep.Unchanged(current);
        }
    }

    // The osquery rules, run on the osquery part as if it were an osquery-only record.
    private static RefetchStep StepOsquery(RefetchRecord current, RefetchEvent evt, RefetchPolicy policy, DateTimeOffset now)
    {
        if (current.Osquery is not { Live: true } part)
        {
            return RefetchStep.Unchanged(current);
        }

        var alone = current with
        {
            Status = part.Status,
            Deadline = part.Deadline,
            Attempt = part.Attempt,
            MaxAttempts = part.MaxAttempts,
            Reason = part.Reason,
            CompletedAt = part.CompletedAt,
            HandedOutAt = part.HandedOutAt,
            Osquery = null,
            Mdm = null,
        };
        var step = ApplyOsquery(alone, evt, policy, now);
        if (!step.Changed)
        {
            return RefetchStep.Unchanged(current);
        }

        var next = step.Refetch!;
        var retriedOrFailed = next.Attempt != part.Attempt || next.Status == RefetchStatus.Failed;
        var combined = Combined(current, next.OsqueryPart, current.Mdm!, now, retriedOrFailed ? next.Reason : null);

        return combined with { MustPersist = step.MustPersist };
    }

    private static RefetchStep OnCombinedDeadline(
        RefetchRecord current, RefetchEvent.DeadlineReached deadline, RefetchPolicy policy, DateTimeOffset now)
    {
        var step = StepOsquery(current, deadline, policy, now);
        var record = step.Refetch!;
        if (!record.InFlight || record.Mdm is not { Live: true, Deadline: { } due } mdm || now < due)
        {
            return step;
        }

        var activity = deadline.Mdm ?? new MdmActivity(0, null, null);
        var reason = activity.PushFailure is { } pushFailure
            ? pushFailure
            : new Reason(
                ReasonCodes.MdmNoAck,
                $"The device did not acknowledge DeviceInformation within {Span(due - MdmStepStart(mdm, policy))} " +
                $"(attempt {mdm.Attempt} of {mdm.MaxAttempts}); answered NotNow {activity.NotNowCount} times; " +
                $"{LastPush(activity.LastPushAt)}.");
        var combined = Combined(record, record.Osquery, FailMdmAttempt(mdm, reason, policy, now, requeueAs: null), now, reason);

        // Both parts may time out in one wake-up: each part keeps its reason, the history shows the later one.
        return combined with { Mdm = combined.Mdm | step.Mdm };
    }

    private static RefetchPart Acknowledged(RefetchPart mdm, DateTimeOffset now) =>
        mdm with { Status = RefetchStatus.Verified, Deadline = null, Reason = null, CompletedAt = now };

    private static RefetchPart Failed(RefetchPart part, Reason reason, DateTimeOffset now) =>
        part with { Status = RefetchStatus.Failed, Deadline = null, Reason = reason, CompletedAt = now };

    /// <summary>
    /// The MDM attempt failed: the next one re-pushes and waits longer, or the part fails. After an error the
    /// command was answered and is gone, so the retry queues a new one (<paramref name="requeueAs"/>); after a
    /// timeout it is still queued.
    /// </summary>
    private static RefetchPart FailMdmAttempt(RefetchPart mdm, Reason reason, RefetchPolicy policy, DateTimeOffset now, string? requeueAs)
    {
        if (mdm.Attempt >= mdm.MaxAttempts)
        {
            return Failed(mdm, reason, now);
        }

        var attempt = mdm.Attempt + 1;

        return mdm with
        {
            Status = RefetchStatus.Pending,
            Attempt = attempt,
            Reason = reason,
            Deadline = now + policy.MdmAckTimeout + policy.MdmBackoffFor(attempt),
            CommandUuid = requeueAs ?? mdm.CommandUuid,
        };
    }

    private static RefetchStep Combined(RefetchRecord current, RefetchPart? osquery, RefetchPart mdm, DateTimeOffset now, Reason? latestReason)
    {
        var next = Combine(current, osquery, mdm, now, latestReason);
        if (next == current)
        {
            return RefetchStep.Unchanged(current);
        }

        var retried = mdm.Attempt > current.Mdm!.Attempt && mdm.Live;
        var effects = MdmEffects.None;
        if (retried)
        {
            effects |= mdm.CommandUuid == current.Mdm.CommandUuid ? MdmEffects.Push : QueueAndPush;
        }

        if (next.Status == RefetchStatus.Failed)
        {
            effects |= MdmEffects.DropCommands;
        }

        var transition = next.Status != current.Status || latestReason is not null
            ? new Transition(now, next.Epoch, current.Status, next.Status, latestReason ?? next.Reason)
            : null;
        var deadline = next.InFlight ? DeadlineAction.Arm : DeadlineAction.Disarm;

        return new RefetchStep(next, true, transition, deadline, MustPersist: true, effects);
    }

    /// <summary>
    /// The record's status from its parts: failed as soon as any part fails, verified when all are, verifying
    /// when any is verifying or already met (under way: it never falls back to pending), else pending. Its
    /// deadline is the earliest live part's.
    /// </summary>
    private static RefetchRecord Combine(RefetchRecord current, RefetchPart? osquery, RefetchPart mdm, DateTimeOffset now, Reason? latestReason)
    {
        RefetchPart[] parts = osquery is null ? [mdm] : [osquery, mdm];
        var failed = parts.FirstOrDefault(p => p.Status == RefetchStatus.Failed);
        var status = failed is not null ? RefetchStatus.Failed
            : parts.All(p => p.Status == RefetchStatus.Verified) ? RefetchStatus.Verified
            : parts.Any(p => p.Status is RefetchStatus.Verifying or RefetchStatus.Verified) ? RefetchStatus.Verifying
            : RefetchStatus.Pending;
        var terminal = status is RefetchStatus.Failed or RefetchStatus.Verified;
        if (terminal)
        {
            // Nothing waits any more: the part that was still live keeps its status but loses its deadline.
            osquery = osquery is { Live: true } ? osquery with { Deadline = null } : osquery;
            mdm = mdm.Live ? mdm with { Deadline = null } : mdm;
        }

        var lead = osquery ?? mdm;

        return current with
        {
            Status = status,
            Deadline = terminal ? null : parts.Where(p => p.Live).Min(p => p.Deadline),
            Attempt = lead.Attempt,
            MaxAttempts = lead.MaxAttempts,
            HandedOutAt = lead.HandedOutAt,
            Reason = status switch
            {
                RefetchStatus.Failed => failed!.Reason,
                RefetchStatus.Verified => null,
                _ => latestReason ?? current.Reason,
            },
            CompletedAt = terminal ? now : null,
            Osquery = osquery,
            Mdm = mdm,
        };
    }

    // The MDM window began at the request or at the retry that armed it; reconstructed for the message.
    private static DateTimeOffset MdmStepStart(RefetchPart mdm, RefetchPolicy policy) =>
        mdm.Deadline!.Value - policy.MdmAckTimeout - policy.MdmBackoffFor(mdm.Attempt);

    private static string LastPush(DateTimeOffset? lastPushAt) =>
        lastPushAt is { } at ? $"last push at {Instant(at)}" : "never pushed (no push token yet)";
}
