using System.Globalization;
using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Mdm;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Hosts;

// The MDM command channel: check-ins, the command queue and pushes. Seam for the profile work:
// EnqueueCommand, DropCommand, RequestPush and MdmReady are what profiles use.
internal sealed partial class HostGrain
{
    // Set by RequestPush: push at the next wake-up, which comes after the current turn and its write.
    private bool _pushRequested;

    // Each use builds a queue over the state's lists, creating them if they are null; a step that only read them
    // leaves them empty, and the end of the step (SaveAsync, or the write) drops them again.
    private CommandQueue Queue => new(State.Commands ??= [], State.CompletedCommands ??= []);

    /// <summary>Queues a command (persisted with the caller's write) and returns its UUID.</summary>
    private string EnqueueCommand(
        MdmCommandKind kind,
        string? profileIdentifier = null,
        string? profileDisplayName = null,
        string? profileChecksum = null,
        int? epoch = null) =>
        Enqueue(NewCommandUuid(), kind, epoch, profileIdentifier, profileDisplayName, profileChecksum);

    /// <summary>Removes a queued command that is no longer wanted; false when it was not queued.</summary>
    private bool DropCommand(string commandUuid) => Queue.Drop(commandUuid);

    /// <summary>Asks for a push once the caller's change is written (and re-pushes with backoff while unanswered).</summary>
    private void RequestPush()
    {
        _pushRequested = true;

        // A timer callback waits for the current turn, so the push follows the caller's write.
        ArmTimer(services.Time.GetUtcNow());
    }

    /// <summary>True while the host is enrolled in MDM and not checked out.</summary>
    private bool MdmReady => State.Mdm is { Active: true };

    async Task<MdmCheckInResult> IHostGrain.MdmCheckInAsync(MdmCheckIn checkIn)
    {
        var now = services.Time.GetUtcNow();
        services.Metrics.CheckIn("mdm_checkin");
        if (checkIn.Type == MdmCheckInType.Authenticate)
        {
            return await AuthenticateAsync(checkIn, now);
        }

        // An unauthenticated check-in changes nothing, not even last-seen times.
        var identity = await CheckIdentityAsync(checkIn.Certificate, now);
        if (identity.Verdict != IdentityVerdict.Accepted)
        {
            return new MdmCheckInResult(false, Refused(identity, checkIn.Certificate, $"{checkIn.Type} check-in"), identity.Verdict);
        }

        return checkIn.Type == MdmCheckInType.TokenUpdate
            ? await TokenUpdateAsync(checkIn, now)
            : await CheckOutAsync(now);
    }

    private async Task<MdmCheckInResult> AuthenticateAsync(MdmCheckIn checkIn, DateTimeOffset now)
    {
        var bound = await BindAtAuthenticateAsync(checkIn.Certificate);
        if (bound.Verdict != IdentityVerdict.Accepted)
        {
            return new MdmCheckInResult(false, Refused(bound, checkIn.Certificate, "Authenticate"), bound.Verdict);
        }

        var known = State.Enrolled;
        var reEnrolled = State.Mdm is not null;
        State.EnrolledAt ??= now;
        State.StatusChangedAt ??= now;
        State.LastSeenAt = now;
        State.Details = MdmFacts.Merge(State.Details ?? new HostDetails { HardwareUuid = HostId }, checkIn.Facts);

        // A new enrollment starts a new push channel: the TokenUpdate that follows brings its target.
        State.Mdm = new MdmEnrollment { EnrolledAt = now, LastSeenAt = now, Session = State.Mdm?.Session ?? 0 };
        Queue.Clear();
        RecordAtAuthenticate(checkIn.Certificate!, now);
        OnMdmReenrolled(reEnrolled, now);
        Advance(new RefetchEvent.MdmReenrolled(NewCommandUuid()));
        await PersistAsync();

        LogMdmEnrolled(HostId, State.Details.Platform, State.Details.OsVersion, known, reEnrolled);

        return new MdmCheckInResult(true);
    }

    private async Task<MdmCheckInResult> TokenUpdateAsync(MdmCheckIn checkIn, DateTimeOffset now)
    {
        if (State.Mdm is not { Active: true } mdm)
        {
            return Unusable(new MdmCheckInResult(false, "TokenUpdate before Authenticate: the host is not enrolled in MDM."));
        }

        if (checkIn.Push is not { } target)
        {
            return Unusable(new MdmCheckInResult(false, "TokenUpdate without a push token, push magic and topic."));
        }

        var changed = target != mdm.PushTarget || mdm.TokenRejected;
        State.Mdm = changed
            ? mdm with { PushTarget = target, PushFailure = null, PushFailureKind = null, TokenRejected = false, PushAttempt = 0, NextPushAt = null, LastSeenAt = now }
            : mdm with { LastSeenAt = now };
        State.LastSeenAt = now;
        LogTokenUpdate(HostId, changed);
        if (State.Commands is { Count: > 0 })
        {
            RequestPush();
        }

        await SaveAsync(persist: changed, publish: false);

        return new MdmCheckInResult(true);
    }

    private async Task<MdmCheckInResult> CheckOutAsync(DateTimeOffset now)
    {
        if (State.Mdm is not { Active: true } mdm)
        {
            return Unusable(new MdmCheckInResult(false, "CheckOut from a host that is not enrolled in MDM."));
        }

        State.Mdm = mdm with { CheckedOutAt = now, LastSeenAt = now, PushTarget = null, NextPushAt = null, PushAttempt = 0 };
        State.LastSeenAt = now;
        Queue.Clear();
        Advance(new RefetchEvent.MdmCheckedOut());
        OnMdmCheckedOut(now);
        await PersistAsync();

        LogMdmCheckedOut(HostId);

        return new MdmCheckInResult(true);
    }

    async Task<MdmReportResult> IHostGrain.MdmReportAsync(MdmReport report)
    {
        services.Metrics.MdmReport(report.Status);
        var now = services.Time.GetUtcNow();
        var identity = await CheckIdentityAsync(report.Certificate, now);
        if (identity.Verdict != IdentityVerdict.Accepted)
        {
            var request = $"{Words.Of(report.Status)} report for {report.CommandUuid ?? "no command"}";

            return new MdmReportResult(null, Refused(identity, report.Certificate, request), identity.Verdict);
        }

        if (State.Mdm is not { Active: true } mdm)
        {
            return Unusable(new MdmReportResult(null, "The host is not enrolled in MDM (never enrolled, or checked out)."), report);
        }

        var session = report.Status == MdmResultStatus.Idle ? mdm.Session + 1 : mdm.Session;

        // The device is awake and talking: the re-push backoff starts over.
        State.Mdm = mdm with { LastSeenAt = now, Session = session, PushAttempt = 0 };
        State.LastSeenAt = now;
        var (mustPersist, problem) = report.Status == MdmResultStatus.Idle ? (false, (string?)null) : RecordResult(report, session, now);

        var next = Queue.Next(session, now);
        var command = next?.ToCommand();
        var publish = mustPersist;
        if (next is { Kind: MdmCommandKind.DeviceInformation, Epoch: { } epoch })
        {
            var step = Advance(new RefetchEvent.MdmCommandHandedOut(epoch));
            mustPersist |= step.Changed && step.MustPersist;
            publish |= step.Changed;
        }
        else if (next is { Kind: MdmCommandKind.RenewIdentity })
        {
            // The issued identity is remembered before the device can install it.
            command = await IssueRenewalAsync(next, now);
            mustPersist = true;
        }

        ScheduleRepush(now);
        await SaveAsync(mustPersist, publish);
        if (problem is not null)
        {
            Unusable(problem, report);
        }
        else
        {
            LogReport(HostId, Words.Of(report.Status), report.CommandUuid, command?.CommandUuid);
        }

        return new MdmReportResult(command, problem);
    }

    /// <summary>Applies a result to the queue and runs its effects; true when that must be written before answering.</summary>
    private (bool MustPersist, string? Problem) RecordResult(MdmReport report, long session, DateTimeOffset now)
    {
        if (report.CommandUuid is not { Length: > 0 } uuid)
        {
            return (false, $"A {Words.Of(report.Status)} report without a CommandUUID.");
        }

        var result = Queue.Record(uuid, report.Status, session);
        switch (result.Outcome)
        {
            case CommandOutcome.Duplicate:
                LogDuplicateResult(HostId, uuid, Words.Of(report.Status));
                return (false, null);
            case CommandOutcome.Unknown:
                return (false, $"Unknown command {uuid}: this host has no such command queued.");
            case CommandOutcome.NotNow:
                // NotNow is the queue's business, except for a renewal, whose history records it.
                return (result.Command!.Kind == MdmCommandKind.RenewIdentity && OnRenewalAnswered(result.Command, report, now), null);
        }

        var command = result.Command!;

        return (OnCommandCompleted(command, report, now), null);
    }

    private bool OnCommandCompleted(QueuedCommand command, MdmReport report, DateTimeOffset now)
    {
        var acknowledged = report.Status == MdmResultStatus.Acknowledged;
        switch (command.Kind)
        {
            case MdmCommandKind.DeviceInformation:
                if (acknowledged)
                {
                    State.Details = MdmFacts.Merge(State.Details ?? new HostDetails { HardwareUuid = HostId }, report.DeviceInformation);
                    State.DetailUpdatedAt = now;
                }

                if (command.Epoch is { } epoch)
                {
                    var failure = acknowledged ? null : new Reason(ReasonCodes.MdmError, ErrorSentence(command, report));
                    Advance(new RefetchEvent.MdmAnswered(epoch, failure, NewCommandUuid()));
                }

                break;
            case MdmCommandKind.ProfileList when acknowledged && report.ProfileList is { } installed:
                OnInstalledProfiles(installed, "mdm", now);
                break;
            case MdmCommandKind.ProfileList when acknowledged:
                // Without the list nothing can be said about what is installed; absence must not be read into it.
                LogProfileListWithoutList(HostId, command.CommandUuid);
                break;
            case MdmCommandKind.InstallProfile or MdmCommandKind.RemoveProfile:
                OnProfileCommandResult(command, report.Status, report.ErrorChain, now);
                break;
            case MdmCommandKind.RenewIdentity:
                OnRenewalAnswered(command, report, now);
                break;
        }

        // The command left the queue: that is written before the device is answered, whatever else changed.
        return true;
    }

    /// <summary>Queues and drops what a refetch step asks for, and asks for a push.</summary>
    private void RunMdmEffects(RefetchStep step)
    {
        if (step.Mdm == MdmEffects.None || step.Refetch is not { } refetch)
        {
            return;
        }

        if (step.Mdm.HasFlag(MdmEffects.DropCommands))
        {
            Queue.DropEpoch(refetch.Epoch);
        }

        if (step.Mdm.HasFlag(MdmEffects.QueueDeviceInformation) && refetch.Mdm?.CommandUuid is { } uuid)
        {
            Enqueue(uuid, MdmCommandKind.DeviceInformation, refetch.Epoch);
        }

        if (step.Mdm.HasFlag(MdmEffects.QueueProfileList))
        {
            EnqueueCommand(MdmCommandKind.ProfileList, epoch: refetch.Epoch);
        }

        if (step.Mdm.HasFlag(MdmEffects.Push))
        {
            RequestPush();
        }
    }

    private string Enqueue(
        string uuid,
        MdmCommandKind kind,
        int? epoch,
        string? profileIdentifier = null,
        string? profileDisplayName = null,
        string? profileChecksum = null)
    {
        Queue.Add(new QueuedCommand
        {
            CommandUuid = uuid,
            Kind = kind,
            QueuedAt = services.Time.GetUtcNow(),
            Epoch = epoch,
            ProfileIdentifier = profileIdentifier,
            ProfileDisplayName = profileDisplayName,
            ProfileChecksum = profileChecksum,
        });

        return uuid;
    }

    /// <summary>Commands wait and the device can be pushed.</summary>
    private bool PushesPending =>
        State.Mdm is { Active: true, PushTarget: not null, TokenRejected: false } && State.Commands is { Count: > 0 };

    // A push that was asked for, or never made since the commands were queued, is due at once.
    private DateTimeOffset? NextPushWakeAt(DateTimeOffset now) =>
        !PushesPending ? null
        : _pushRequested ? now
        : State.Mdm!.NextPushAt ?? now;

    private bool PushDue(DateTimeOffset now)
    {
        if (!PushesPending)
        {
            _pushRequested = false;
            return false;
        }

        return NextPushWakeAt(now) <= now;
    }

    // After a report the device is awake; if commands remain (answered NotNow, or not reached), wake it
    // again later, waiting longer the more often it has said NotNow.
    private void ScheduleRepush(DateTimeOffset now)
    {
        var notNow = State.Commands is { Count: > 0 } commands ? Math.Max(1, commands.Max(c => c.NotNowCount)) : 0;
        var push = services.Push.CurrentValue;
        State.Mdm = State.Mdm! with
        {
            NextPushAt = notNow == 0 ? null : now + Backoff.For(notNow, push.RepushBackoff, push.MaxRepushBackoff),
        };
    }

    /// <summary>Sends one push and schedules the next; true when the outcome changed what must be stored (its failure reason).</summary>
    private async Task<bool> PushAsync(DateTimeOffset now)
    {
        var mdm = State.Mdm!;
        _pushRequested = false;
        var result = await SendPushAsync(mdm.PushTarget!);
        var attempt = mdm.PushAttempt + 1;
        var push = services.Push.CurrentValue;
        var nextPushAt = now + Backoff.For(attempt, push.RepushBackoff, push.MaxRepushBackoff);
        if (result.Failure is not { } kind)
        {
            services.Metrics.PushSent();
            LogPushSent(HostId, attempt, nextPushAt);
            State.Mdm = mdm with { LastPushAt = now, PushAttempt = attempt, NextPushAt = nextPushAt, PushFailure = null, PushFailureKind = null };
        }
        else
        {
            services.Metrics.PushFailed(kind);
            LogPushFailed(HostId, Words.Of(kind), result.Message ?? string.Empty);
            var rejected = kind == PushFailureKind.InvalidDeviceToken;
            var reason = new Reason(ReasonCodes.PushFailed, result.Message ?? $"The push failed ({Words.Of(kind)}).");
            State.Mdm = mdm with
            {
                LastPushAt = now,
                PushAttempt = attempt,
                NextPushAt = rejected ? null : nextPushAt,
                PushFailure = reason,
                PushFailureKind = Words.Of(kind),
                TokenRejected = rejected,
            };
        }

        var stored = State.Mdm.PushFailure != mdm.PushFailure || State.Mdm.TokenRejected != mdm.TokenRejected;
        if (!stored)
        {
            _unsavedCheckIn = true;
        }

        return stored;
    }

    // Bounded: the push runs inside the grain's turn and must not hold it.
    private async Task<PushResult> SendPushAsync(MdmPushTarget target)
    {
        var timeout = services.Push.CurrentValue.Timeout;
        using var cancellation = new CancellationTokenSource(timeout, services.Time);
        try
        {
            return await services.PushSender.SendAsync(target, cancellation.Token).WaitAsync(timeout, services.Time);
        }
        catch (Exception exception) when (exception is OperationCanceledException or TimeoutException)
        {
            return PushResult.Failed(
                PushFailureKind.Unreachable,
                $"The push gateway did not answer within {timeout.ToString("c", CultureInfo.InvariantCulture)}.");
        }
    }

    /// <summary>What the MDM requirement's deadline reason needs to know.</summary>
    private MdmActivity? MdmActivity()
    {
        if (State.Mdm is not { } mdm)
        {
            return null;
        }

        var uuid = State.Refetch?.Mdm?.CommandUuid;
        var notNow = uuid is null || State.Commands is null ? 0 : Queue.Find(uuid)?.NotNowCount ?? 0;

        return new MdmActivity(notNow, mdm.LastPushAt, mdm.PushFailure);
    }

    private MdmView? MdmView() => State.Mdm is not { } mdm
        ? null
        : new MdmView(
            mdm.Active,
            mdm.EnrolledAt,
            mdm.CheckedOutAt,
            mdm.LastSeenAt,
            mdm.PushTarget?.Topic,
            State.Commands?.Count ?? 0,
            mdm.LastPushAt,
            PushesPending ? mdm.NextPushAt : null,
            mdm.PushFailure,
            mdm.PushFailureKind);

    private static string ErrorSentence(QueuedCommand command, MdmReport report)
    {
        var chain = report.ErrorChain.Count == 0
            ? "no error chain"
            : string.Join("; ", report.ErrorChain.Select(e => $"{e.Domain ?? "unknown domain"} {e.Code}: {e.Description ?? "no description"}"));

        return $"The device answered {command.Kind} {command.CommandUuid} with {report.Status}: {chain}.";
    }

    private static string NewCommandUuid() => Guid.NewGuid().ToString().ToUpperInvariant();

    private MdmCheckInResult Unusable(MdmCheckInResult result)
    {
        LogUnusableCheckIn(HostId, result.Problem ?? string.Empty);

        return result;
    }

    private MdmReportResult Unusable(MdmReportResult result, MdmReport report)
    {
        Unusable(result.Problem ?? string.Empty, report);

        return result;
    }

    private void Unusable(string problem, MdmReport report) =>
        LogUnusableReport(HostId, Words.Of(report.Status), report.CommandUuid, problem);

    [LoggerMessage(EventId = 120, Level = LogLevel.Information,
        Message = "Host {HostId} enrolled in MDM: platform {Platform}, OS {OsVersion}, known host {Known}, re-enrollment {ReEnrolled}")]
    private partial void LogMdmEnrolled(string hostId, string? platform, string? osVersion, bool known, bool reEnrolled);

    [LoggerMessage(EventId = 121, Level = LogLevel.Debug, Message = "Host {HostId}: MDM token update (changed {Changed})")]
    private partial void LogTokenUpdate(string hostId, bool changed);

    [LoggerMessage(EventId = 122, Level = LogLevel.Information, Message = "Host {HostId} checked out of MDM; its command queue was dropped")]
    private partial void LogMdmCheckedOut(string hostId);

    [LoggerMessage(EventId = 123, Level = LogLevel.Warning, Message = "Host {HostId}: MDM check-in not used: {Problem}")]
    private partial void LogUnusableCheckIn(string hostId, string problem);

    [LoggerMessage(EventId = 124, Level = LogLevel.Debug,
        Message = "Host {HostId}: MDM report {Status} for {CommandUuid}; next command {NextCommandUuid}")]
    private partial void LogReport(string hostId, string status, string? commandUuid, string? nextCommandUuid);

    [LoggerMessage(EventId = 125, Level = LogLevel.Warning,
        Message = "Host {HostId}: MDM report {Status} for {CommandUuid} not used: {Problem}")]
    private partial void LogUnusableReport(string hostId, string status, string? commandUuid, string problem);

    [LoggerMessage(EventId = 126, Level = LogLevel.Debug, Message = "Host {HostId}: resent {Status} for completed command {CommandUuid}; ignored")]
    private partial void LogDuplicateResult(string hostId, string commandUuid, string status);

    [LoggerMessage(EventId = 127, Level = LogLevel.Debug, Message = "Host {HostId}: push {Attempt} sent; next re-push at {NextPushAt}")]
    private partial void LogPushSent(string hostId, int attempt, DateTimeOffset nextPushAt);

    [LoggerMessage(EventId = 128, Level = LogLevel.Warning, Message = "Host {HostId}: push failed ({Kind}): {Message}")]
    private partial void LogPushFailed(string hostId, string kind, string message);

    [LoggerMessage(EventId = 129, Level = LogLevel.Warning,
        Message = "Host {HostId}: ProfileList {CommandUuid} acknowledged without a ProfileList; nothing inferred about installed profiles")]
    private partial void LogProfileListWithoutList(string hostId, string commandUuid);
}
