using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fleet.Contracts;

/// <summary>How a device presented its identity certificate.</summary>
[GenerateSerializer, Alias("fleet.identity-presentation")]
public enum IdentityPresentation
{
    /// <summary>A TLS client certificate on the Api's HTTPS listener.</summary>
    Tls = 0,

    /// <summary>The <c>Mdm-Signature</c> header: a detached CMS signature of the body (TLS ends in front of us).</summary>
    MdmSignature = 1,
}

/// <summary>
/// The public facts of a device identity certificate, as the Api read them after checking its signature,
/// chain and validity. The key never leaves the device. <see cref="Thumbprint"/> is the upper-case hex
/// SHA-256 of the DER certificate and is what hosts record and compare.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.device-certificate")]
public sealed record DeviceCertificate(
    [property: Id(0)] string Thumbprint,
    [property: Id(1)] string Subject,
    [property: Id(2)] string SerialNumber,
    [property: Id(3)] string Issuer,
    [property: Id(4)] DateTimeOffset NotBefore,
    [property: Id(5)] DateTimeOffset NotAfter,
    [property: Id(6)] IdentityPresentation Presentation)
{
    /// <summary>The facts of <paramref name="certificate"/>: the one mapping the Api, the silo's issuer and the tests share.</summary>
    public static DeviceCertificate Of(X509Certificate2 certificate, IdentityPresentation presentation) => new(
        Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256)),
        certificate.Subject,
        certificate.SerialNumber,
        certificate.Issuer,
        certificate.NotBefore.ToUniversalTime(),
        certificate.NotAfter.ToUniversalTime(),
        presentation);
}

/// <summary>What a host made of the certificate an MDM request came with.</summary>
[GenerateSerializer, Alias("fleet.identity-verdict")]
public enum IdentityVerdict
{
    /// <summary>The recorded certificate, the previous one inside its overlap, a renewed one, or one recorded at <c>Authenticate</c>.</summary>
    Accepted = 0,

    /// <summary>Not a certificate this host accepts (never recorded, replaced and past its overlap, or none): 401.</summary>
    Unrecognised = 1,

    /// <summary>The certificate is bound to another host: 403, and neither host changes.</summary>
    Foreign = 2,

    /// <summary>The certificate is this host's and has expired: 401, and the host's pending MDM work has failed.</summary>
    Expired = 3,
}

/// <summary>Where a host's identity certificate stands.</summary>
[GenerateSerializer, Alias("fleet.identity-state")]
public enum IdentityState
{
    /// <summary>Recorded, valid, outside the renewal window.</summary>
    Valid = 0,

    /// <summary>Inside the renewal window: a renewal is queued, installed, or waiting to be retried.</summary>
    Renewing = 1,

    /// <summary>Past its not-after: MDM work fails until the device enrolls again with a valid certificate.</summary>
    Expired = 2,
}

/// <summary>Where a renewal stands.</summary>
[GenerateSerializer, Alias("fleet.renewal-status")]
public enum RenewalStatus
{
    /// <summary>The renewal command is queued for the device (NotNow keeps it here).</summary>
    Queued = 0,

    /// <summary>The device acknowledged the command; the server waits for it to present the new certificate.</summary>
    Installed = 1,

    /// <summary>The last attempt failed (Error, or no answer by its deadline); the next one waits for its backoff.</summary>
    WaitingRetry = 2,
}

/// <summary>One step of a host's identity: recorded, renewal queued, NotNow, retry, renewed, expired, refused.</summary>
[GenerateSerializer, Immutable, Alias("fleet.identity-event")]
public sealed record IdentityEvent(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Step,
    [property: Id(2)] string Detail);

/// <summary>A renewal in flight. <see cref="Deadline"/> is for the current step; <see cref="NextAttemptAt"/> while waiting to retry.</summary>
[GenerateSerializer, Immutable, Alias("fleet.renewal-view")]
public sealed record RenewalView(
    [property: Id(0)] RenewalStatus Status,
    [property: Id(1)] int Attempt,
    [property: Id(2)] string? CommandUuid,
    [property: Id(3)] DateTimeOffset? Deadline,
    [property: Id(4)] DateTimeOffset? NextAttemptAt,
    [property: Id(5)] Reason? LastFailure);

/// <summary>
/// The operator's view of a host's identity certificate: public facts only, never the key. <see cref="PreviousSerialNumber"/>
/// is the certificate a renewal replaced, still accepted until <see cref="PreviousAcceptedUntil"/>.
/// <see cref="Reason"/> explains an expired certificate (code <c>identity_expired</c>).
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.identity-view")]
public sealed record IdentityView(
    [property: Id(0)] string Subject,
    [property: Id(1)] string SerialNumber,
    [property: Id(2)] string Issuer,
    [property: Id(3)] DateTimeOffset NotBefore,
    [property: Id(4)] DateTimeOffset NotAfter,
    [property: Id(5)] string Thumbprint,
    [property: Id(6)] IdentityState State,
    [property: Id(7)] DateTimeOffset RenewalWindowStartsAt,
    [property: Id(8)] RenewalView? Renewal,
    [property: Id(9)] string? PreviousSerialNumber,
    [property: Id(10)] DateTimeOffset? PreviousAcceptedUntil,
    [property: Id(11)] Reason? Reason,
    [property: Id(12)] IReadOnlyList<IdentityEvent> History);

/// <summary>
/// A renewed identity issued for one device: a PKCS#12 with the new key and certificate, and its password.
/// It travels from the silo to the Api inside one command answer and is never stored.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.issued-identity")]
public sealed record IssuedIdentity(
    [property: Id(0)] byte[] Pkcs12,
    [property: Id(1)] string Password,
    [property: Id(2)] DeviceCertificate Certificate);

/// <summary>
/// Which host a device identity certificate belongs to. Keyed by <see cref="DeviceCertificate.Thumbprint"/>.
/// The first host to record a certificate owns it for good, so one device's certificate can never speak for another.
/// </summary>
[Alias("fleet.identity-binding")]
public interface IIdentityBindingGrain : IGrainWithStringKey
{
    /// <summary>Binds the certificate to <paramref name="hostId"/> unless it is bound already; answers the owner.</summary>
    [Alias("bind")]
    Task<string> BindAsync(string hostId);

    /// <summary>The owning host id, or null for a certificate no host has recorded.</summary>
    [Alias("owner")]
    Task<string?> OwnerAsync();
}
