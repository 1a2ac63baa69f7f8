using Fleet.Contracts;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>Something that happened to a host's identity certificate.</summary>
public abstract record RenewalEvent
{
    /// <summary>
    /// <c>Authenticate</c> with a certificate bound to this host, or the first certificate a host enrolled before
    /// identities presents: it becomes the host's identity. <paramref name="How"/> starts the event's detail.
    /// <paramref name="NextCommandUuid"/> names the RenewIdentity command, should the certificate already be
    /// inside its renewal window; <paramref name="CanRenew"/> is false while no renewal can be delivered.
    /// </summary>
    public sealed record Recorded(DeviceCertificate Certificate, string How, string NextCommandUuid, bool CanRenew) : RenewalEvent;

    /// <summary>A check-in or report came with <paramref name="Certificate"/>.</summary>
    public sealed record Presented(DeviceCertificate Certificate) : RenewalEvent;

    /// <summary>The Api found <paramref name="Certificate"/> chained but past its not-after.</summary>
    public sealed record ExpiryReported(DeviceCertificate Certificate) : RenewalEvent;

    /// <summary>A timer or reminder woke the host: expiry, the renewal window, a renewal deadline or a retry.</summary>
    public sealed record Due(string NextCommandUuid, bool CanRenew) : RenewalEvent;

    /// <summary>The device answered the RenewIdentity command <paramref name="CommandUuid"/>; <paramref name="ErrorChain"/> says why it failed.</summary>
    public sealed record Answered(string CommandUuid, MdmResultStatus Status, string ErrorChain) : RenewalEvent;

    /// <summary>The queue handed out RenewIdentity <paramref name="CommandUuid"/> carrying the identity <paramref name="Certificate"/>.</summary>
    public sealed record Issued(string CommandUuid, DeviceCertificate Certificate) : RenewalEvent;

    /// <summary>No usable identity could be issued for RenewIdentity <paramref name="CommandUuid"/>; <paramref name="Why"/> is a sentence.</summary>
    public sealed record IssueFailed(string CommandUuid, string Why) : RenewalEvent;
}

/// <summary>
/// The result of one event: the new record, what the host makes of the certificate it was shown, the
/// commands to queue (then push) and to drop, and the reason MDM work fails with when the certificate expired
/// in this step. <see cref="Changed"/> steps are written before the device is answered; a refused certificate
/// changes nothing. <see cref="AskOwner"/>: the certificate is none this host knows, so its binding decides
/// between <see cref="IdentityVerdict.Foreign"/> and <see cref="IdentityVerdict.Unrecognised"/>.
/// </summary>
public sealed record RenewalStep(
    IdentityRecord? Record,
    bool Changed,
    IdentityVerdict Verdict = IdentityVerdict.Accepted,
    string? Refusal = null,
    bool AskOwner = false,
    string? QueueCommand = null,
    string? DropCommand = null,
    Reason? Expired = null)
{
    public static RenewalStep Unchanged(IdentityRecord? record) => new(record, false);
}
