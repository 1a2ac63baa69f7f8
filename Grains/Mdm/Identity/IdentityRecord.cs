using Fleet.Contracts;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>
/// A host's MDM identity certificate as the host persists it: the current certificate, the one a renewal
/// replaced (accepted until <see cref="PreviousAcceptedUntil"/>), the renewal in flight, why the certificate
/// expired, and the latest events. Immutable; <see cref="RenewalMachine"/> returns new copies.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.identity-record")]
public sealed record IdentityRecord
{
    /// <summary>Recorded at <c>Authenticate</c> or by the latest renewal.</summary>
    [Id(0)] public required DeviceCertificate Current { get; init; }

    /// <summary>The certificate the latest renewal replaced; null before any renewal.</summary>
    [Id(1)] public DeviceCertificate? Previous { get; init; }
    [Id(2)] public DateTimeOffset? PreviousAcceptedUntil { get; init; }

    /// <summary>When <see cref="Previous"/> was replaced, for the reason given when it is refused.</summary>
    [Id(3)] public DateTimeOffset? ReplacedAt { get; init; }

    /// <summary>The renewal in flight; null outside the renewal window, after a renewal and after expiry.</summary>
    [Id(4)] public RenewalRecord? Renewal { get; init; }

    /// <summary>Why the current certificate no longer works (code <c>identity_expired</c>); null while valid.</summary>
    [Id(5)] public Reason? Expiry { get; init; }

    /// <summary>
    /// Thumbprints of the identities issued by this host's renewals, newest last, at most
    /// <see cref="RenewalMachine.CandidateLimit"/>: the device may present any of them once it installed it.
    /// </summary>
    [Id(6)] public IReadOnlyList<string> Candidates { get; init; } = [];

    /// <summary>The latest events, oldest first, at most <see cref="RenewalMachine.HistoryLimit"/>.</summary>
    [Id(7)] public IReadOnlyList<IdentityEvent> History { get; init; } = [];

    /// <summary>
    /// Kept by the grain, not the machine: when the identity reminder it registered fires next. The
    /// identity's wake-ups are weeks apart, so they get a reminder of their own rather than the periodic one.
    /// </summary>
    [Id(8)] public DateTimeOffset? ReminderDueAt { get; init; }
}

/// <summary>A renewal in flight. Immutable; <see cref="RenewalMachine"/> returns new copies.</summary>
[GenerateSerializer, Immutable, Alias("fleet.renewal-record")]
public sealed record RenewalRecord
{
    [Id(0)] public required RenewalStatus Status { get; init; }

    /// <summary>Which RenewIdentity command this is; each retry queues a new command and adds one.</summary>
    [Id(1)] public required int Attempt { get; init; }

    /// <summary>The attempt's RenewIdentity command.</summary>
    [Id(2)] public required string CommandUuid { get; init; }

    /// <summary>Queued: when an unanswered command is given up. Installed: when the device must have presented the new certificate.</summary>
    [Id(3)] public DateTimeOffset? Deadline { get; init; }

    /// <summary>While waiting to retry: when the next attempt is queued.</summary>
    [Id(4)] public DateTimeOffset? NextAttemptAt { get; init; }

    /// <summary>Why the latest attempt failed; null before any failure.</summary>
    [Id(5)] public Reason? LastFailure { get; init; }

    /// <summary>When the renewal began (attempt 1 was queued).</summary>
    [Id(6)] public required DateTimeOffset StartedAt { get; init; }

    public RenewalView ToView() => new(Status, Attempt, CommandUuid, Deadline, NextAttemptAt, LastFailure);
}
