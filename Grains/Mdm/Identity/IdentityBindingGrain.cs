using Fleet.Contracts;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Fleet.Grains.Mdm.Identity;

/// <summary>Which host owns a certificate. Ids are never renumbered.</summary>
[GenerateSerializer, Alias("fleet.identity-binding-state")]
public sealed class IdentityBindingState
{
    [Id(0)] public string? HostId { get; set; }
    [Id(1)] public DateTimeOffset? BoundAt { get; set; }
}

/// <summary>
/// One device identity certificate, keyed by its thumbprint: the first host to record it owns it for good.
/// Hosts ask it only when a certificate is new to them, never on a routine request.
/// </summary>
internal sealed partial class IdentityBindingGrain(
    [PersistentState("binding", FleetStorage.IdentityStore)] IPersistentState<IdentityBindingState> store,
    TimeProvider time,
    ILogger<IdentityBindingGrain> logger) : Grain, IIdentityBindingGrain
{
    async Task<string> IIdentityBindingGrain.BindAsync(string hostId)
    {
        if (store.State.HostId is { } owner)
        {
            if (owner != hostId)
            {
                LogBindingRefused(this.GetPrimaryKeyString(), owner, hostId);
            }

            return owner;
        }

        store.State.HostId = hostId;
        store.State.BoundAt = time.GetUtcNow();
        await store.WriteOrDropAsync((exception, reason) =>
        {
            LogBindFailed(this.GetPrimaryKeyString(), hostId, reason, exception);
            DeactivateOnIdle();
        });
        LogBound(this.GetPrimaryKeyString(), hostId);

        return hostId;
    }

    Task<string?> IIdentityBindingGrain.OwnerAsync() => Task.FromResult(store.State.HostId);

    [LoggerMessage(EventId = 150, Level = LogLevel.Debug, Message = "Certificate {Thumbprint} bound to host {HostId}")]
    private partial void LogBound(string thumbprint, string hostId);

    [LoggerMessage(EventId = 151, Level = LogLevel.Warning,
        Message = "Certificate {Thumbprint} belongs to host {Owner}; host {HostId} may not record it")]
    private partial void LogBindingRefused(string thumbprint, string owner, string hostId);

    [LoggerMessage(EventId = 152, Level = LogLevel.Error,
        Message = "Certificate {Thumbprint}: binding to host {HostId} not stored, {Reason}; dropping this activation")]
    private partial void LogBindFailed(string thumbprint, string hostId, string reason, Exception exception);
}
