using System.Globalization;
using Fleet.Contracts;

namespace Fleet.Grains.Profiles;

/// <summary>
/// The configuration-profile state machine: a pure function from (records, event, options, now) to the next
/// step. Every Pending or Verifying record carries a deadline, and every deadline either retries once or
/// fails, so no profile waits forever. The grain runs the step's effects: it queues and drops commands,
/// pushes, and stores the records.
/// </summary>
public static class ProfileMachine
{
    /// <summary>Transitions kept per profile.</summary>
    public const int HistoryLimit = 20;

    public static ProfileStep Apply(
        IReadOnlyList<ProfileRecord> records, ProfileEvent evt, ProfileOptions options, DateTimeOffset now)
    {
        var run = new Run(records, options, now);
        switch (evt)
        {
            case ProfileEvent.Reconcile reconcile:
                run.Reconcile(reconcile.Declared);
                break;
            case ProfileEvent.CommandAnswered answered:
                run.Answered(answered);
                break;
            case ProfileEvent.InstalledReported reported:
                run.Reported(reported);
                break;
            case ProfileEvent.DeadlinesDue due:
                run.Map(r => run.Due(r, due.PushState));
                break;
            case ProfileEvent.Reenrolled reenrolled:
                run.Map(r => run.Requeue(r, reenrolled.WasEnrolled));
                break;
            case ProfileEvent.CheckedOut:
                run.Map(run.CheckedOut);
                break;
            case ProfileEvent.IdentityExpired expired:
                run.Map(r => run.IdentityExpired(r, expired.Reason));
                break;
        }

        return run.ToStep();
    }

    /// <summary>When <paramref name="record"/> next needs attention: its step deadline or the end of its missing grace.</summary>
    public static DateTimeOffset? NextDeadline(ProfileRecord record, ProfileOptions options)
    {
        var missingDue = record is { MissingSince: { } since, Status: ProfileStatus.Verifying or ProfileStatus.Verified }
            ? since + options.MissingGrace
            : (DateTimeOffset?)null;

        return (record.Deadline, missingDue) switch
        {
            ({ } a, { } b) => a < b ? a : b,
            (var a, var b) => a ?? b,
        };
    }

    /// <summary>The earliest deadline of all records, or null when none waits on anything.</summary>
    public static DateTimeOffset? NextDeadline(IEnumerable<ProfileRecord> records, ProfileOptions options) =>
        records.Select(r => NextDeadline(r, options)).Where(d => d is not null).Min();

    /// <summary>
    /// A host's OS-settings status: the worst of its records (removals count). The enum is ordered from best
    /// to worst, so the worst is the largest.
    /// </summary>
    public static ProfileStatus Worst(IEnumerable<ProfileRecord> records) =>
        records.Select(r => r.Status).DefaultIfEmpty(ProfileStatus.None).Max();

    /// <summary>One event's work: the records as they change, and the effects collected on the way.</summary>
    private sealed class Run(IReadOnlyList<ProfileRecord> records, ProfileOptions options, DateTimeOffset now)
    {
        private readonly List<ProfileRecord> _records = [.. records];
        private readonly List<ProfileCommandRequest> _enqueue = [];
        private readonly List<string> _drop = [];
        private readonly List<ProfileChange> _changes = [];
        private bool _profileList;
        private bool _push;
        private bool _changed;

        public ProfileStep ToStep() =>
            new(_records, _enqueue, _drop, _profileList, _push, _changes, _changed);

        /// <summary>Replaces every record by what <paramref name="rule"/> makes of it; null removes it.</summary>
        public void Map(Func<ProfileRecord, ProfileRecord?> rule)
        {
            for (var i = _records.Count - 1; i >= 0; i--)
            {
                var current = _records[i];
                var next = rule(current);
                if (next is null)
                {
                    _records.RemoveAt(i);
                    _changed = true;
                }
                else if (!ReferenceEquals(next, current))
                {
                    _records[i] = next;
                    _changed = true;
                }
            }
        }

        public void Reconcile(IReadOnlyList<ProfileDeclaration> declared)
        {
            var wanted = new Dictionary<string, ProfileDeclaration>(StringComparer.Ordinal);
            foreach (var declaration in declared)
            {
                wanted[declaration.Identifier] = declaration;
            }

            var held = _records.Select(r => r.Identifier).ToHashSet(StringComparer.Ordinal);
            Map(r => wanted.TryGetValue(r.Identifier, out var declaration) ? Declared(r, declaration) : Undeclared(r));
            foreach (var declaration in wanted.Values.Where(d => !held.Contains(d.Identifier)))
            {
                var record = Install(declaration, "declared; InstallProfile queued");
                _records.Add(Move(record with { Status = ProfileStatus.None }, Send(record)));
                _changed = true;
            }
        }

        public void Answered(ProfileEvent.CommandAnswered answered)
        {
            var expected = answered.Kind switch
            {
                MdmCommandKind.InstallProfile => ProfileOperation.Install,
                MdmCommandKind.RemoveProfile => ProfileOperation.Remove,
                _ => (ProfileOperation?)null,
            };

            // A command no record waits for (dropped, superseded, or answered before) changes nothing.
            Map(r => r.CommandUuid == answered.CommandUuid && r.Operation == expected ? OnAnswer(r, answered) : r);
        }

        public void Reported(ProfileEvent.InstalledReported reported)
        {
            var installed = new Dictionary<string, InstalledProfile>(StringComparer.Ordinal);
            foreach (var profile in reported.Installed)
            {
                installed.TryAdd(profile.Identifier, profile);
            }

            Map(r =>
            {
                var seen = installed.GetValueOrDefault(r.Identifier);
                if (r.Operation == ProfileOperation.Remove)
                {
                    return seen is null ? Removed(r, $"reported absent by {reported.Source}") : r;
                }

                return Confirms(r, seen) ? Confirmed(r, reported.Source) : NotConfirmed(r, seen, reported.Source);
            });
        }

        public ProfileRecord? Due(ProfileRecord r, string? pushState)
        {
            if (r is { MissingSince: { } since, Status: ProfileStatus.Verifying or ProfileStatus.Verified }
                && now >= since + options.MissingGrace)
            {
                return MissingTooLong(r);
            }

            if (r.Deadline is not { } due || now < due)
            {
                return r;
            }

            return r.Status switch
            {
                ProfileStatus.Pending => PendingTooLong(r, pushState),
                ProfileStatus.Verifying => VerifyingTooLong(r),
                _ => r with { Deadline = null },
            };
        }

        public ProfileRecord? Requeue(ProfileRecord r, bool wasEnrolled)
        {
            // A device that enrolls again lost its earlier MDM enrollment, and with it every profile that
            // enrollment installed: verified ones are sent again too. A first enrollment keeps what osquery saw.
            if (r is { Operation: ProfileOperation.Install, Status: ProfileStatus.Verified } && !wasEnrolled)
            {
                return r;
            }

            var why = wasEnrolled
                ? "the device enrolled in MDM again, which removes the profiles and commands of its earlier enrollment"
                : "the device enrolled in MDM";

            return Move(r, Resend(r, r.Operation, $"{why}; {Command(r)} queued again"));
        }

        public ProfileRecord? CheckedOut(ProfileRecord r)
        {
            if (r.Operation == ProfileOperation.Remove)
            {
                return Removed(r, "the device checked out of MDM, which removes every profile MDM installed");
            }

            return r.Status is ProfileStatus.Pending or ProfileStatus.Verifying
                ? Fail(r, "the device checked out of MDM before the profile was confirmed")
                : r;
        }

        public ProfileRecord? IdentityExpired(ProfileRecord r, Reason reason) =>
            r is { Operation: ProfileOperation.Install, Status: ProfileStatus.Pending or ProfileStatus.Verifying }
                ? Fail(r, $"{reason.Message}; the device cannot receive or confirm MDM commands until it enrolls again")
                : r;

        private ProfileRecord? Declared(ProfileRecord r, ProfileDeclaration declaration)
        {
            if (r.Operation == ProfileOperation.Install && r.Checksum == declaration.Checksum)
            {
                return r;
            }

            // A new version, or a profile declared again while its removal waits: the install supersedes both.
            DropCommandOf(r);
            var detail = r.Operation == ProfileOperation.Remove
                ? "declared again; RemoveProfile dropped, InstallProfile queued"
                : "new version declared; InstallProfile queued";
            var next = Install(declaration, detail) with { HeldByDevice = r.HeldByDevice, History = r.History };

            return Move(r, Send(next));
        }

        private ProfileRecord? Undeclared(ProfileRecord r)
        {
            if (r.Operation == ProfileOperation.Remove)
            {
                return r;
            }

            if (!r.HeldByDevice)
            {
                return Removed(r, "no longer declared and never received by the device; nothing to remove");
            }

            DropCommandOf(r);

            return Move(r, Resend(r, ProfileOperation.Remove, "no longer declared; RemoveProfile queued"));
        }

        private ProfileRecord? OnAnswer(ProfileRecord r, ProfileEvent.CommandAnswered answered)
        {
            switch (answered.Status)
            {
                case MdmResultStatus.Acknowledged when r.Operation == ProfileOperation.Remove:
                    return Removed(r, "the device acknowledged RemoveProfile");
                case MdmResultStatus.Acknowledged:
                    return Move(r, r with
                    {
                        Status = ProfileStatus.Verifying,
                        AcknowledgedAt = now,
                        HeldByDevice = true,
                        CommandUuid = null,
                        Deadline = now + options.VerifyTimeout,
                        PendingSince = null,
                        MissingSince = null,
                        ListRequestedAt = null,
                        Detail = "the device acknowledged InstallProfile; waiting for osquery or a ProfileList to confirm it",
                    });
                case MdmResultStatus.Error or MdmResultStatus.CommandFormatError:
                    var what = $"the device answered {answered.Status} to {Command(r)}: {ErrorChain(answered.ErrorChain)}";

                    // The answered command has left the queue; a retry needs a fresh one.
                    var answeredNow = r with { CommandUuid = null };

                    return r.Attempt < options.MaxAttempts
                        ? Retry(answeredNow, what)
                        : Fail(answeredNow, $"{what} ({AttemptOf(r)})");
                default:
                    // NotNow and Idle are the command channel's business: the command stays queued.
                    return r;
            }
        }

        private static bool Confirms(ProfileRecord r, InstalledProfile? seen) =>
            seen is not null && (seen.InstallDate is not { } installedAt || installedAt >= WholeSeconds(r.UploadedAt));

        private ProfileRecord? Confirmed(ProfileRecord r, string source)
        {
            if (r.Status == ProfileStatus.Verified)
            {
                return r.MissingSince is null ? r : r with { MissingSince = null, Detail = $"confirmed installed by {source}", UpdatedAt = now };
            }

            // Also covers a lost acknowledgement: the queued InstallProfile is of no more use.
            DropCommandOf(r);

            return Move(r, r with
            {
                Status = ProfileStatus.Verified,
                Attempt = 1,
                ConfirmedAt = now,
                HeldByDevice = true,
                CommandUuid = null,
                Deadline = null,
                PendingSince = null,
                MissingSince = null,
                ListRequestedAt = null,
                Detail = $"confirmed installed by {source}",
            });
        }

        private ProfileRecord? NotConfirmed(ProfileRecord r, InstalledProfile? seen, string source)
        {
            // An older version on the device is still something a removal has to take away.
            var current = seen is not null && !r.HeldByDevice ? r with { HeldByDevice = true } : r;
            if (r.Status is not (ProfileStatus.Verifying or ProfileStatus.Verified))
            {
                return current;
            }

            if (r.MissingSince is not { } since)
            {
                var what = seen is null ? "missing"
                    : seen.InstallDate == DateTimeOffset.MinValue ? "with an install date that cannot be read"
                    : "installed before this version was declared";
                return current with { MissingSince = now, Detail = $"reported {what} by {source} at {Instant(now)}", UpdatedAt = now };
            }

            return now >= since + options.MissingGrace ? MissingTooLong(current) : current;
        }

        private ProfileRecord MissingTooLong(ProfileRecord r)
        {
            var was = r.Status == ProfileStatus.Verifying ? "was verifying" : "was verified";
            var what = $"{was}; reported missing since {Instant(r.MissingSince)}";
            if (r.Attempt >= options.MaxAttempts)
            {
                return Fail(r with { MissingSince = null }, $"{what} ({AttemptOf(r)})");
            }

            // As far as anyone knows the device no longer holds it: a removal now would have nothing to do.
            return Retry(r with { HeldByDevice = false, AcknowledgedAt = null, MissingSince = null }, what);
        }

        private ProfileRecord PendingTooLong(ProfileRecord r, string? pushState)
        {
            var since = r.PendingSince ?? r.UpdatedAt;
            if (r.Attempt < options.MaxAttempts)
            {
                // The command stays queued: the device has not seen it yet, so a push is what it needs.
                _push = true;

                return Move(r, r with
                {
                    Attempt = r.Attempt + 1,
                    Deadline = now + options.PendingTimeout,
                    Detail = $"no answer to {Command(r)} within {Span(now - since)}; pushed again " +
                        $"(attempt {r.Attempt + 1} of {options.MaxAttempts})",
                });
            }

            var push = pushState is null ? string.Empty : $"; {pushState}";

            return Fail(r, $"no answer to {Command(r)} queued at {Instant(since)} within {Span(now - since)} " +
                $"after {r.Attempt} sends{push}");
        }

        private ProfileRecord VerifyingTooLong(ProfileRecord r)
        {
            if (r.ListRequestedAt is null)
            {
                // Ask the device itself once; its answer confirms the profile or reports it missing.
                _profileList = true;
                _push = true;

                return Move(r, r with
                {
                    ListRequestedAt = now,
                    Deadline = now + options.VerifyTimeout,
                    Detail = $"acknowledged at {Instant(r.AcknowledgedAt)} but not confirmed within " +
                        $"{Span(options.VerifyTimeout)}; ProfileList queued",
                });
            }

            return Fail(r, $"acknowledged at {Instant(r.AcknowledgedAt)} but never confirmed: neither osquery nor " +
                $"the ProfileList queued at {Instant(r.ListRequestedAt)} reported it installed by {Instant(now)}");
        }

        private ProfileRecord Retry(ProfileRecord r, string why) =>
            Move(r, Send(r with
            {
                Status = ProfileStatus.Pending,
                Attempt = r.Attempt + 1,
                Deadline = now + options.PendingTimeout,
                PendingSince = now,
                ListRequestedAt = null,
                Detail = $"{why}; {Command(r)} queued again (attempt {r.Attempt + 1} of {options.MaxAttempts})",
            }));

        private ProfileRecord Fail(ProfileRecord r, string detail)
        {
            // Failed is terminal until something changes: its command leaves the queue, so it is neither pushed
            // again nor in the way of later commands. osquery or a ProfileList can still show it installed.
            DropCommandOf(r);

            return Move(r, r with
            {
                Status = ProfileStatus.Failed,
                Deadline = null,
                PendingSince = null,
                CommandUuid = null,
                Detail = detail,
            });
        }

        private ProfileRecord? Removed(ProfileRecord r, string detail)
        {
            DropCommandOf(r);
            Record(r.Identifier, new ProfileTransition(now, r.Operation, r.Status, ProfileStatus.None, detail));

            return null;
        }

        private ProfileRecord Install(ProfileDeclaration declaration, string detail) => new()
        {
            Identifier = declaration.Identifier,
            DisplayName = declaration.DisplayName,
            Checksum = declaration.Checksum,
            UploadedAt = declaration.UploadedAt,
            Operation = ProfileOperation.Install,
            Status = ProfileStatus.Pending,
            Attempt = 1,
            Deadline = now + options.PendingTimeout,
            PendingSince = now,
            Detail = detail,
            UpdatedAt = now,
        };

        /// <summary>Starts the record over as a first send of <paramref name="operation"/>'s command.</summary>
        private ProfileRecord Resend(ProfileRecord r, ProfileOperation operation, string detail) =>
            Send(r with
            {
                Operation = operation,
                Status = ProfileStatus.Pending,
                Attempt = 1,
                Deadline = now + options.PendingTimeout,
                PendingSince = now,
                CommandUuid = null,
                AcknowledgedAt = null,
                MissingSince = null,
                ListRequestedAt = null,
                Detail = detail,
            });

        /// <summary>Queues the record's command; the grain fills in its UUID.</summary>
        private ProfileRecord Send(ProfileRecord r)
        {
            _enqueue.Add(r.Operation == ProfileOperation.Install
                ? new ProfileCommandRequest(MdmCommandKind.InstallProfile, r.Identifier, r.DisplayName, r.Checksum)
                : new ProfileCommandRequest(MdmCommandKind.RemoveProfile, r.Identifier, null, null));
            _push = true;

            return r;
        }

        private void DropCommandOf(ProfileRecord r)
        {
            if (r.CommandUuid is { } uuid)
            {
                _drop.Add(uuid);
            }
        }

        private ProfileRecord Move(ProfileRecord current, ProfileRecord next)
        {
            var transition = new ProfileTransition(now, next.Operation, current.Status, next.Status, next.Detail ?? string.Empty);
            Record(next.Identifier, transition);
            var history = next.History.Count < HistoryLimit
                ? [.. next.History, transition]
                : next.History.Skip(next.History.Count - HistoryLimit + 1).Append(transition).ToList();

            return next with { History = history, UpdatedAt = now };
        }

        private void Record(string identifier, ProfileTransition transition) =>
            _changes.Add(new ProfileChange(identifier, transition));

        private string AttemptOf(ProfileRecord r) => $"attempt {r.Attempt} of {options.MaxAttempts}";
    }

    private static string Command(ProfileRecord r) =>
        r.Operation == ProfileOperation.Install ? "InstallProfile" : "RemoveProfile";

    /// <summary>The device's error chain as <c>code domain: description; …</c>.</summary>
    public static string ErrorChain(IReadOnlyList<MdmError> chain) =>
        chain.Count == 0
            ? "no error chain given"
            : string.Join("; ", chain.Select(e =>
                string.Create(CultureInfo.InvariantCulture, $"{e.Code}{(e.Domain is null ? "" : " " + e.Domain)}: {e.Description ?? "no description"}")));

    // Install dates carry whole seconds; a profile installed in the second it was declared still counts.
    private static DateTimeOffset WholeSeconds(DateTimeOffset at) =>
        new(at.Ticks - (at.Ticks % TimeSpan.TicksPerSecond), at.Offset);

    private static string Instant(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "an unknown time";

    // Waits are measured from the clock at a timer's firing, a few milliseconds late: whole seconds read better.
    private static string Span(TimeSpan span) =>
        TimeSpan.FromSeconds(Math.Round(span.TotalSeconds)).ToString("c", CultureInfo.InvariantCulture);
}
