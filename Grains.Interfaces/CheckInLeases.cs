namespace Fleet.Contracts;

/// <summary>
/// A host's promise to one Api process: until <see cref="Duration"/> has passed (counted by the Api from
/// before it asked), a <c>distributed/read</c> with the same node key may be answered "nothing owed" without
/// asking the host, unless the host revokes lease <see cref="Grant"/> first. The host revokes before it
/// answers any call that leaves it owing queries or changes its node key, so a lease never hides work.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.check-in-lease")]
public sealed record CheckInLease(
    [property: Id(0)] long Grant,
    [property: Id(1)] TimeSpan Duration);

/// <summary>
/// Implemented by the Api (an Orleans client) for the leases it holds. A host calls it, and waits for it,
/// before a change that would make a quiet answer wrong.
/// </summary>
[Alias("fleet.check-in-lease-holder")]
public interface ICheckInLeaseHolder : IGrainObserver
{
    /// <summary>
    /// Ends whatever lease of the host this process holds, and refuses lease <paramref name="grant"/> and earlier
    /// ones if they arrive later.
    /// </summary>
    [Alias("revoke")]
    Task RevokeAsync(string hostId, long grant);
}
