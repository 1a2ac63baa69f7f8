using Fleet.Contracts;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>Makes renewed device identities. One per silo; hosts call it when a RenewIdentity command is handed out.</summary>
public interface IIdentityIssuer
{
    /// <summary>False while no CA is configured: renewals are then never queued.</summary>
    bool CanIssue { get; }

    /// <summary>A new key and certificate for <paramref name="udid"/>, as a PKCS#12 with its password.</summary>
    Task<IssuedIdentity> IssueAsync(string udid, CancellationToken cancellationToken = default);
}
