using Fleet.Contracts;

namespace Fleet.Grains.Mdm;

/// <summary>Why a push was not delivered to the push service.</summary>
public enum PushFailureKind
{
    /// <summary>The push gateway could not be reached or did not answer in time. Worth retrying.</summary>
    Unreachable,

    /// <summary>The push certificate (or provider token) has expired; nothing gets through until it is renewed.</summary>
    CertificateExpired,

    /// <summary>The device token is unknown to the push service or no longer valid; the device must check in again.</summary>
    InvalidDeviceToken,

    /// <summary>The push service refused the push for another reason.</summary>
    Rejected,
}

/// <summary>The outcome of one push: delivered to the push service, or a failure with a human sentence.</summary>
public sealed record PushResult(PushFailureKind? Failure, string? Message)
{
    public static PushResult Sent { get; } = new(null, null);

    public bool Succeeded => Failure is null;

    public static PushResult Failed(PushFailureKind kind, string message) => new(kind, message);
}

/// <summary>
/// Sends an MDM wake-up push to a device. The shipped sender posts to a loopback HTTP push gateway; an
/// APNs sender can implement the same contract. Implementations never throw for delivery problems: they
/// answer a <see cref="PushResult"/> that the host shows as its reason.
/// </summary>
public interface IPushSender
{
    Task<PushResult> SendAsync(MdmPushTarget target, CancellationToken cancellationToken);
}
