using System.Globalization;
using Fleet.Contracts;
using Fleet.Grains.Refetch;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>
/// The identity certificate state machine: a pure function from (record, event, options, now) to the next
/// step. It decides which certificates a host accepts, when its certificate expires, and every step of a
/// renewal: queued, NotNow, acknowledged, presented, or failed and retried after a backoff. The grain runs
/// the step's effects (queue, drop, push, fail MDM work on expiry) and asks the binding grain who owns a
/// certificate the machine does not know.
/// </summary>
public static class RenewalMachine
{
    /// <summary>Identity events kept per host.</summary>
    public const int HistoryLimit = 32;

    /// <summary>Issued identities remembered per host; a device holds at most the few latest ones it was sent.</summary>
    public const int CandidateLimit = 4;

    public static RenewalStep Apply(IdentityRecord? current, RenewalEvent evt, RenewalOptions options, DateTimeOffset now)
    {
        if (evt is RenewalEvent.Recorded recorded)
        {
            return OnRecorded(current, recorded, options, now);
        }

        if (current is null)
        {
            return evt is RenewalEvent.Presented or RenewalEvent.ExpiryReported
                ? Refused(null, IdentityVerdict.Unrecognised, "no identity certificate is recorded for this host", askOwner: evt is RenewalEvent.Presented)
                : RenewalStep.Unchanged(null);
        }

        return evt switch
        {
            RenewalEvent.Presented presented => OnPresented(current, presented.Certificate, options, now),
            RenewalEvent.ExpiryReported reported => OnExpiryReported(current, reported.Certificate, now),
            RenewalEvent.Due due => OnDue(current, due, options, now),
            RenewalEvent.Answered answered => OnAnswered(current, answered, options, now),
            RenewalEvent.Issued issued => OnIssued(current, issued, now),
            RenewalEvent.IssueFailed failed => OnIssueFailed(current, failed, options, now),
            _ => RenewalStep.Unchanged(current),
        };
    }

    /// <summary>Where the certificate stands, as the operator sees it.</summary>
    public static IdentityState StateOf(IdentityRecord record) =>
        record.Expiry is not null ? IdentityState.Expired
        : record.Renewal is not null ? IdentityState.Renewing
        : IdentityState.Valid;

    /// <summary>When the current certificate enters its renewal window.</summary>
    public static DateTimeOffset WindowStart(IdentityRecord record, RenewalOptions options) =>
        record.Current.NotAfter - options.Window;

    /// <summary>
    /// When the record next needs a <see cref="RenewalEvent.Due"/>: its expiry, the start of its renewal window,
    /// the renewal's deadline or its next attempt. Steps that wait to queue a command wait only while
    /// <paramref name="canRenew"/>. Null once expired.
    /// </summary>
    public static DateTimeOffset? NextWake(IdentityRecord? record, RenewalOptions options, bool canRenew)
    {
        if (record is null || record.Expiry is not null)
        {
            return null;
        }

        DateTimeOffset? step = record.Renewal switch
        {
            null => canRenew ? WindowStart(record, options) : null,
            { Status: RenewalStatus.WaitingRetry } renewal => canRenew ? renewal.NextAttemptAt : null,
            var renewal => renewal.Deadline,
        };
        var expiry = record.Current.NotAfter;

        return step is { } at && at < expiry ? at : expiry;
    }

    public static IdentityView ToView(IdentityRecord record, RenewalOptions options)
    {
        var current = record.Current;

        return new IdentityView(
            current.Subject,
            current.SerialNumber,
            current.Issuer,
            current.NotBefore,
            current.NotAfter,
            current.Thumbprint,
            StateOf(record),
            WindowStart(record, options),
            record.Renewal?.ToView(),
            record.Previous?.SerialNumber,
            record.PreviousAcceptedUntil,
            record.Expiry,
            record.History);
    }

    private static RenewalStep OnRecorded(IdentityRecord? current, RenewalEvent.Recorded recorded, RenewalOptions options, DateTimeOffset now)
    {
        var certificate = recorded.Certificate;
        var record = new IdentityRecord
        {
            Current = certificate,
            History = current?.History ?? [],
            ReminderDueAt = current?.ReminderDueAt,
        };
        record = Append(record, now, "recorded",
            $"{recorded.How}: serial {certificate.SerialNumber}, not after {Instant(certificate.NotAfter)}, issuer {certificate.Issuer}");
        var drop = QueuedCommandOf(current);

        // A certificate recorded inside its renewal window is renewed at once.
        var due = OnDue(record, new RenewalEvent.Due(recorded.NextCommandUuid, recorded.CanRenew), options, now);

        return (due.Changed ? due : new RenewalStep(record, true)) with { Verdict = IdentityVerdict.Accepted, Refusal = null, DropCommand = drop };
    }

    private static RenewalStep OnPresented(IdentityRecord current, DeviceCertificate certificate, RenewalOptions options, DateTimeOffset now)
    {
        var thumbprint = certificate.Thumbprint;
        if (thumbprint == current.Current.Thumbprint)
        {
            return current.Expiry is not null || now >= current.Current.NotAfter
                ? Refused(current, IdentityVerdict.Expired, current.Expiry?.Message ?? ExpiredSentence(current))
                : RenewalStep.Unchanged(current);
        }

        if (current.Previous?.Thumbprint == thumbprint)
        {
            return now < current.PreviousAcceptedUntil
                ? RenewalStep.Unchanged(current)
                : Refused(current, IdentityVerdict.Unrecognised,
                    $"certificate serial {certificate.SerialNumber} was replaced at {Instant(current.ReplacedAt)} by serial " +
                    $"{current.Current.SerialNumber}; its overlap ended at {Instant(current.PreviousAcceptedUntil)}");
        }

        if (current.Candidates.Contains(thumbprint, StringComparer.Ordinal))
        {
            return Renewed(current, certificate, options, now);
        }

        return Refused(current, IdentityVerdict.Unrecognised,
            $"certificate serial {certificate.SerialNumber} is not the certificate recorded for this host at Authenticate " +
            $"or at its last renewal (serial {current.Current.SerialNumber})",
            askOwner: true);
    }

    private static RenewalStep Renewed(IdentityRecord current, DeviceCertificate certificate, RenewalOptions options, DateTimeOffset now)
    {
        var old = current.Current;
        var next = current with
        {
            Current = certificate,
            Previous = old,
            PreviousAcceptedUntil = now + options.Overlap,
            ReplacedAt = now,
            Renewal = null,
            Expiry = null,
            Candidates = [],
        };
        next = Append(next, now, "renewed",
            $"the device presented the renewed certificate serial {certificate.SerialNumber} (not after {Instant(certificate.NotAfter)}); " +
            $"serial {old.SerialNumber} is accepted until {Instant(next.PreviousAcceptedUntil)}");

        // An acknowledgement that never arrived leaves the command queued: it is of no more use.
        return new RenewalStep(next, true, DropCommand: QueuedCommandOf(current));
    }

    private static RenewalStep OnExpiryReported(IdentityRecord current, DeviceCertificate certificate, DateTimeOffset now)
    {
        if (certificate.Thumbprint != current.Current.Thumbprint)
        {
            return Refused(current, IdentityVerdict.Unrecognised,
                $"certificate serial {certificate.SerialNumber} is not this host's current certificate (serial {current.Current.SerialNumber})");
        }

        return current.Expiry is { } expiry
            ? Refused(current, IdentityVerdict.Expired, expiry.Message)
            : Expire(current, now);
    }

    private static RenewalStep OnDue(IdentityRecord current, RenewalEvent.Due due, RenewalOptions options, DateTimeOffset now)
    {
        if (current.Expiry is not null)
        {
            return RenewalStep.Unchanged(current);
        }

        if (now >= current.Current.NotAfter)
        {
            return Expire(current, now);
        }

        var renewal = current.Renewal;
        if (renewal is null)
        {
            if (!due.CanRenew || now < WindowStart(current, options))
            {
                return RenewalStep.Unchanged(current);
            }

            return Queue(current, attempt: 1, due.NextCommandUuid, startedAt: now, options, now, "renewal_queued",
                $"serial {current.Current.SerialNumber} expires at {Instant(current.Current.NotAfter)}, inside the " +
                $"{Span(options.Window)} renewal window; RenewIdentity {due.NextCommandUuid} queued (attempt 1)");
        }

        switch (renewal)
        {
            case { Status: RenewalStatus.Queued, Deadline: { } deadline } when now >= deadline:
                // Dropped, so that a command the device never answers cannot hold up the one that follows it.
                return WaitRetry(current, renewal, options, now, renewal.CommandUuid, new Reason(
                    ReasonCodes.MdmNoAck,
                    $"The device did not answer RenewIdentity {renewal.CommandUuid} within {Span(options.Timeout)} " +
                    $"(attempt {renewal.Attempt}); the command was dropped."));
            case { Status: RenewalStatus.Installed, Deadline: { } deadline } when now >= deadline:
                return WaitRetry(current, renewal, options, now, drop: null, new Reason(
                    ReasonCodes.IdentityNotPresented,
                    $"The device acknowledged RenewIdentity {renewal.CommandUuid} but presented no renewed certificate by " +
                    $"{Instant(deadline)} (attempt {renewal.Attempt})."));
            case { Status: RenewalStatus.WaitingRetry, NextAttemptAt: { } at } when due.CanRenew && now >= at:
                var attempt = renewal.Attempt + 1;

                return Queue(current, attempt, due.NextCommandUuid, renewal.StartedAt, options, now, "renewal_retried",
                    $"RenewIdentity {due.NextCommandUuid} queued (attempt {attempt}) after: {renewal.LastFailure?.Message}",
                    renewal.LastFailure);
            default:
                return RenewalStep.Unchanged(current);
        }
    }

    private static RenewalStep OnAnswered(IdentityRecord current, RenewalEvent.Answered answered, RenewalOptions options, DateTimeOffset now)
    {
        if (current.Renewal is not { Status: RenewalStatus.Queued } renewal || renewal.CommandUuid != answered.CommandUuid)
        {
            // A command an earlier attempt queued, or an answer resent after the one that counted.
            return RenewalStep.Unchanged(current);
        }

        var uuid = renewal.CommandUuid;
        switch (answered.Status)
        {
            case MdmResultStatus.NotNow:
                return Changed(Append(current, now, "not_now",
                    $"the device answered NotNow to RenewIdentity {uuid}; it stays queued (attempt {renewal.Attempt})"));
            case MdmResultStatus.Acknowledged:
                var deadline = now + options.Timeout;
                var installed = current with { Renewal = renewal with { Status = RenewalStatus.Installed, Deadline = deadline } };

                return Changed(Append(installed, now, "installed",
                    $"the device acknowledged RenewIdentity {uuid}; it has until {Instant(deadline)} to present the renewed certificate"));
            case MdmResultStatus.Error or MdmResultStatus.CommandFormatError:
                return WaitRetry(current, renewal, options, now, drop: null, new Reason(
                    ReasonCodes.MdmError,
                    $"The device answered {answered.Status} to RenewIdentity {uuid} (attempt {renewal.Attempt}): {answered.ErrorChain}."));
            default:
                return RenewalStep.Unchanged(current);
        }
    }

    private static RenewalStep OnIssued(IdentityRecord current, RenewalEvent.Issued issued, DateTimeOffset now)
    {
        if (current.Renewal is not { Status: RenewalStatus.Queued } renewal || renewal.CommandUuid != issued.CommandUuid)
        {
            return RenewalStep.Unchanged(current);
        }

        var certificate = issued.Certificate;
        var candidates = current.Candidates.Append(certificate.Thumbprint).TakeLast(CandidateLimit).ToList();

        return Changed(Append(current with { Candidates = candidates }, now, "issued",
            $"identity serial {certificate.SerialNumber} (not after {Instant(certificate.NotAfter)}) issued with RenewIdentity {renewal.CommandUuid}"));
    }

    // The command cannot carry an identity this attempt: it is dropped, and the renewal waits its backoff
    // instead of failing again on every connection.
    private static RenewalStep OnIssueFailed(IdentityRecord current, RenewalEvent.IssueFailed failed, RenewalOptions options, DateTimeOffset now) =>
        current.Renewal is { Status: RenewalStatus.Queued } renewal && renewal.CommandUuid == failed.CommandUuid
            ? WaitRetry(current, renewal, options, now, drop: renewal.CommandUuid, new Reason(
                ReasonCodes.IdentityIssueFailed,
                $"No identity could be issued for RenewIdentity {renewal.CommandUuid} (attempt {renewal.Attempt}): {failed.Why.TrimEnd('.')}."))
            : RenewalStep.Unchanged(current);

    private static RenewalStep Queue(
        IdentityRecord current,
        int attempt,
        string uuid,
        DateTimeOffset startedAt,
        RenewalOptions options,
        DateTimeOffset now,
        string step,
        string detail,
        Reason? lastFailure = null)
    {
        var next = current with { Renewal = NewAttempt(attempt, uuid, startedAt, options, now) with { LastFailure = lastFailure } };

        return new RenewalStep(Append(next, now, step, detail), true, QueueCommand: uuid);
    }

    private static RenewalRecord NewAttempt(int attempt, string uuid, DateTimeOffset startedAt, RenewalOptions options, DateTimeOffset now) => new()
    {
        Status = RenewalStatus.Queued,
        Attempt = attempt,
        CommandUuid = uuid,
        Deadline = now + options.Timeout,
        StartedAt = startedAt,
    };

    private static RenewalStep WaitRetry(
        IdentityRecord current, RenewalRecord renewal, RenewalOptions options, DateTimeOffset now, string? drop, Reason failure)
    {
        var at = now + Backoff.For(renewal.Attempt, options.RetryBackoff, options.MaxRetryBackoff);
        var next = current with
        {
            Renewal = renewal with { Status = RenewalStatus.WaitingRetry, Deadline = null, NextAttemptAt = at, LastFailure = failure },
        };

        return new RenewalStep(Append(next, now, "retry_scheduled", $"{failure.Message} Next attempt at {Instant(at)}."), true, DropCommand: drop);
    }

    private static RenewalStep Expire(IdentityRecord current, DateTimeOffset now)
    {
        var reason = new Reason(ReasonCodes.IdentityExpired, ExpiredSentence(current));
        var renewal = current.Renewal is { } stopped ? $"; renewal attempt {stopped.Attempt} stopped" : string.Empty;
        var next = Append(current with { Expiry = reason, Renewal = null }, now, "expired",
            $"{reason.Message} (serial {current.Current.SerialNumber}); pending MDM work failed{renewal}");

        return new RenewalStep(next, true, IdentityVerdict.Expired, reason.Message, DropCommand: QueuedCommandOf(current), Expired: reason);
    }

    private static string ExpiredSentence(IdentityRecord record) => $"identity certificate expired at {Instant(record.Current.NotAfter)}";

    private static string? QueuedCommandOf(IdentityRecord? record) =>
        record?.Renewal is { Status: RenewalStatus.Queued } renewal ? renewal.CommandUuid : null;

    private static RenewalStep Changed(IdentityRecord record) => new(record, true);

    private static RenewalStep Refused(IdentityRecord? record, IdentityVerdict verdict, string why, bool askOwner = false) =>
        new(record, false, verdict, why, askOwner);

    private static IdentityRecord Append(IdentityRecord record, DateTimeOffset now, string step, string detail)
    {
        var entry = new IdentityEvent(now, step, detail);
        var history = record.History.Count < HistoryLimit
            ? [.. record.History, entry]
            : record.History.Skip(record.History.Count - HistoryLimit + 1).Append(entry).ToList();

        return record with { History = history };
    }

    private static string Instant(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "an unknown time";

    private static string Span(TimeSpan span) => span.ToString("c", CultureInfo.InvariantCulture);
}
