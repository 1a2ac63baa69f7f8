using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Mdm;
using Fleet.Grains.Mdm.Identity;
using Fleet.Grains.Profiles;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Hosts;

// The MDM identity certificate: which certificates the host accepts, its expiry and its renewal. A refused
// request changes nothing. A routine request with the recorded certificate costs no write and no grain call:
// the binding grain is asked only at Authenticate, about a certificate the host does not know, and at issue.
internal sealed partial class HostGrain
{
    // The identity's wake-ups are weeks apart, so they get a reminder of their own, registered for the next one.
    private const string IdentityReminder = "identity";

    // Orleans refuses reminder due times past about 49 days: a later wake-up is reached in steps.
    private static readonly TimeSpan s_maxIdentityReminderDue = TimeSpan.FromDays(30);

    private RenewalOptions RenewalSettings => services.Renewal.CurrentValue;

    /// <summary>Renewals are queued only while a CA can issue them and the device can be reached over MDM.</summary>
    private bool CanRenew => services.Issuer.CanIssue && MdmReady;

    async Task<IdentityVerdict> IHostGrain.MdmCertificateExpiredAsync(DeviceCertificate certificate)
    {
        var step = StepIdentity(new RenewalEvent.ExpiryReported(certificate), services.Time.GetUtcNow());
        if (step.Changed)
        {
            await PersistAsync();
        }
        else if (step.Verdict != IdentityVerdict.Expired)
        {
            Refused(step, certificate, "expired certificate report");
        }

        return step.Verdict;
    }

    /// <summary>
    /// Authenticate: the certificate must be free or already this host's. Nothing is recorded yet; the caller
    /// records it with the rest of the enrollment.
    /// </summary>
    private async Task<RenewalStep> BindAtAuthenticateAsync(DeviceCertificate? certificate)
    {
        if (certificate is null)
        {
            return new RenewalStep(State.Identity, false, IdentityVerdict.Unrecognised, "Authenticate came without an identity certificate");
        }

        if (certificate.Thumbprint == State.Identity?.Current.Thumbprint)
        {
            return RenewalStep.Unchanged(State.Identity);
        }

        // Every certificate a renewal or a re-enrollment replaced is older than the recorded one: it must not
        // come back through Authenticate and lock the current one out.
        if (State.Identity?.Current is { } recorded && certificate.NotBefore < recorded.NotBefore)
        {
            return new RenewalStep(State.Identity, false, IdentityVerdict.Unrecognised,
                $"Authenticate came with certificate serial {certificate.SerialNumber}, issued before the recorded one " +
                $"(serial {recorded.SerialNumber}); a replaced certificate cannot enroll again");
        }

        var owner = await Binding(certificate).BindAsync(HostId);

        return owner == HostId
            ? RenewalStep.Unchanged(State.Identity)
            : new RenewalStep(State.Identity, false, IdentityVerdict.Foreign, ForeignSentence(certificate, owner));
    }

    /// <summary>Records the certificate Authenticate came with (and queues its renewal if it is already due).</summary>
    private void RecordAtAuthenticate(DeviceCertificate certificate, DateTimeOffset now) =>
        StepIdentity(new RenewalEvent.Recorded(certificate, "recorded at Authenticate", NewCommandUuid(), services.Issuer.CanIssue), now);

    /// <summary>
    /// The verdict on the certificate of a check-in or report other than Authenticate. A renewed certificate, or
    /// the first one a host enrolled before identities presents, is recorded and written before the device is answered.
    /// </summary>
    private async Task<RenewalStep> CheckIdentityAsync(DeviceCertificate? certificate, DateTimeOffset now)
    {
        if (certificate is null)
        {
            return new RenewalStep(State.Identity, false, IdentityVerdict.Unrecognised, "the request came without an identity certificate");
        }

        if (State.Identity is null && State.Mdm is not null)
        {
            return await FirstSightAsync(certificate, now);
        }

        var step = StepIdentity(new RenewalEvent.Presented(certificate), now);
        if (step.Changed)
        {
            await PersistAsync();
        }

        if (!step.AskOwner)
        {
            return step;
        }

        var owner = await Binding(certificate).OwnerAsync();

        return owner is not null && owner != HostId
            ? step with { Verdict = IdentityVerdict.Foreign, Refusal = ForeignSentence(certificate, owner) }
            : step;
    }

    // A host enrolled in MDM before identities has none recorded: the first certificate it presents becomes it.
    private async Task<RenewalStep> FirstSightAsync(DeviceCertificate certificate, DateTimeOffset now)
    {
        var owner = await Binding(certificate).BindAsync(HostId);
        if (owner != HostId)
        {
            return new RenewalStep(null, false, IdentityVerdict.Foreign, ForeignSentence(certificate, owner));
        }

        var how = "recorded as the first certificate this host presented since it enrolled";
        var step = StepIdentity(new RenewalEvent.Recorded(certificate, how, NewCommandUuid(), CanRenew), now);
        await PersistAsync();

        return step;
    }

    /// <summary>The device answered a RenewIdentity command; true when that must be written before answering.</summary>
    private bool OnRenewalAnswered(QueuedCommand command, MdmReport report, DateTimeOffset now)
    {
        var errors = ProfileMachine.ErrorChain(report.ErrorChain);

        return StepIdentity(new RenewalEvent.Answered(command.CommandUuid, report.Status, errors), now).Changed;
    }

    /// <summary>
    /// The queue handed out a RenewIdentity: a new identity is issued, bound to this host and remembered among the
    /// candidates (the caller writes that before answering). Null when none could be issued: the device then gets
    /// no command this time, and the renewal's deadline retries it.
    /// </summary>
    private async Task<MdmCommand?> IssueRenewalAsync(QueuedCommand command, DateTimeOffset now)
    {
        IssuedIdentity identity;
        try
        {
            identity = await services.Issuer.IssueAsync(HostId);
        }
        catch (Exception exception) when (exception is System.Security.Cryptography.CryptographicException
            or IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            LogIssueFailed(HostId, command.CommandUuid, exception);
            StepIdentity(new RenewalEvent.IssueFailed(command.CommandUuid, $"the issuing CA could not sign ({exception.Message})"), now);
            return null;
        }

        // An identity that would itself be due for renewal would be renewed again on every connection.
        var window = RenewalSettings.Window;
        if (identity.Certificate.NotAfter - window <= now)
        {
            LogIssuedInsideWindow(HostId, command.CommandUuid, identity.Certificate.NotAfter, window);
            StepIdentity(new RenewalEvent.IssueFailed(command.CommandUuid,
                $"the issuing CA can only issue identities until {identity.Certificate.NotAfter.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}, " +
                $"inside the {window:c} renewal window; give Fleet:Mdm:Identity:Issuer a CA that lives longer"), now);
            return null;
        }

        await Binding(identity.Certificate).BindAsync(HostId);
        if (!StepIdentity(new RenewalEvent.Issued(command.CommandUuid, identity.Certificate), now).Changed)
        {
            // A command its renewal no longer waits for: it must not hand out an identity nobody will accept.
            DropCommand(command.CommandUuid);
            return null;
        }

        return command.ToCommand() with { Identity = identity };
    }

    /// <summary>A timer or reminder woke the host: expiry, the renewal window, a renewal deadline or retry. True when that must be written.</summary>
    private bool OnIdentityDue(DateTimeOffset now) =>
        State.Identity is not null && StepIdentity(new RenewalEvent.Due(NewCommandUuid(), CanRenew), now).Changed;

    /// <summary>Runs one event through the renewal machine and its effects: commands dropped, queued and pushed, MDM work failed on expiry.</summary>
    private RenewalStep StepIdentity(RenewalEvent evt, DateTimeOffset now)
    {
        var before = State.Identity;
        var step = RenewalMachine.Apply(before, evt, RenewalSettings, now);
        if (!step.Changed)
        {
            return step;
        }

        State.Identity = step.Record;
        if (step.DropCommand is { } drop)
        {
            DropCommand(drop);
        }

        if (step.Expired is { } reason)
        {
            OnIdentityExpired(reason, now);
        }

        if (step.QueueCommand is { } uuid)
        {
            Enqueue(uuid, MdmCommandKind.RenewIdentity, epoch: null);
            if (MdmReady)
            {
                RequestPush();
            }
        }

        foreach (var entry in step.Record!.History.Where(e => before?.History.Contains(e) != true))
        {
            LogIdentityEvent(HostId, entry.Step, entry.Detail);
        }

        return step;
    }

    /// <summary>The device can no longer be reached over MDM: its queue goes, and the work that waited on it fails now.</summary>
    private void OnIdentityExpired(Reason reason, DateTimeOffset now)
    {
        Queue.Clear();
        Advance(new RefetchEvent.IdentityExpired(reason));
        StepProfiles(new ProfileEvent.IdentityExpired(reason), now);
    }

    private DateTimeOffset? IdentityWakeAt() => RenewalMachine.NextWake(State.Identity, RenewalSettings, CanRenew);

    private IdentityView? IdentityView() =>
        State.Identity is { } identity ? RenewalMachine.ToView(identity, RenewalSettings) : null;

    /// <summary>
    /// Registers the identity reminder when none is due at or before the identity's next wake-up (kept in state,
    /// so this is free when nothing moved). A reminder that already fired is registered for the next one.
    /// </summary>
    private async Task RegisterIdentityReminderIfNeededAsync()
    {
        var now = services.Time.GetUtcNow();
        if (State.Identity is not { } identity || IdentityWakeAt() is not { } wakeAt
            || (identity.ReminderDueAt is { } dueAt && dueAt > now && dueAt <= wakeAt))
        {
            return;
        }

        var due = wakeAt - now;
        due = due < TimeSpan.Zero ? TimeSpan.Zero : due > s_maxIdentityReminderDue ? s_maxIdentityReminderDue : due;
        await this.RegisterOrUpdateReminder(IdentityReminder, due, services.Refetch.CurrentValue.ReminderPeriod);
        services.Metrics.StorageWrite(StorageWriteKind.Reminder);
        State.Identity = identity with { ReminderDueAt = now + due };
    }

    /// <summary>True when the identity reminder is registered but nothing waits any more: cleared in state now, removed after the write.</summary>
    private bool ReleaseIdentityReminder()
    {
        if (State.Identity is not { ReminderDueAt: not null } identity || IdentityWakeAt() is not null)
        {
            return false;
        }

        State.Identity = identity with { ReminderDueAt = null };

        return true;
    }

    /// <summary>Between writes: keeps the identity reminder in step with the wake-ups; the change rides along with the next write.</summary>
    private async Task SyncIdentityReminderAsync(bool fromIdentityReminder)
    {
        var before = State.Identity?.ReminderDueAt;
        await RegisterIdentityReminderIfNeededAsync();
        var release = ReleaseIdentityReminder();
        if (release || (fromIdentityReminder && IdentityWakeAt() is null))
        {
            // A tick nothing waits for may come from a reminder a crashed activation registered.
            await RemoveIdentityReminderAsync();
        }

        if (State.Identity?.ReminderDueAt != before)
        {
            _unsavedCheckIn = true;
        }
    }

    private async Task RemoveIdentityReminderAsync()
    {
        if (await this.GetReminder(IdentityReminder) is { } reminder)
        {
            await UnregisterAsync(reminder);
        }
    }

    private string Refused(RenewalStep step, DeviceCertificate? certificate, string request)
    {
        var verdict = Words.Of(step.Verdict);
        var why = step.Refusal ?? "not accepted";
        LogIdentityRefused(HostId, request, certificate?.SerialNumber ?? "none", verdict, why);

        return $"Identity certificate refused ({verdict}): {why}.";
    }

    private static string ForeignSentence(DeviceCertificate certificate, string owner) =>
        $"certificate serial {certificate.SerialNumber} belongs to host {owner}";

    private IIdentityBindingGrain Binding(DeviceCertificate certificate) =>
        GrainFactory.GetGrain<IIdentityBindingGrain>(certificate.Thumbprint);

    [LoggerMessage(EventId = 140, Level = LogLevel.Information, Message = "Host {HostId} identity {Step}: {Detail}")]
    private partial void LogIdentityEvent(string hostId, string step, string detail);

    [LoggerMessage(EventId = 141, Level = LogLevel.Warning,
        Message = "Host {HostId}: {Request} refused: identity certificate serial {SerialNumber} is {Verdict}: {Why}")]
    private partial void LogIdentityRefused(string hostId, string request, string serialNumber, string verdict, string why);

    [LoggerMessage(EventId = 142, Level = LogLevel.Error,
        Message = "Host {HostId}: could not issue the identity for RenewIdentity {CommandUuid}; the renewal retries after its backoff")]
    private partial void LogIssueFailed(string hostId, string commandUuid, Exception exception);

    [LoggerMessage(EventId = 143, Level = LogLevel.Error,
        Message = "Host {HostId}: the identity issued for RenewIdentity {CommandUuid} ends at {NotAfter}, inside the {Window} renewal window; not sent, the renewal retries after its backoff")]
    private partial void LogIssuedInsideWindow(string hostId, string commandUuid, DateTimeOffset notAfter, TimeSpan window);
}
