using Fleet.Grains.Diagnostics;
using Fleet.Grains.Events;
using Fleet.Grains.Index;
using Fleet.Grains.Mdm;
using Fleet.Grains.Mdm.Identity;
using Fleet.Grains.Osquery;
using Fleet.Grains.Profiles;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace Fleet.Grains.Hosts;

/// <summary>
/// The silo-wide services a host grain uses, resolved once for the silo. An active host keeps one reference to
/// this object instead of one per service: a silo holds a grain per machine, and each reference is 8 bytes per
/// active host (see docs/architecture.md, "Memory per active host"). It includes the host state's storage, which
/// each grain reads through a bridge of its own.
/// </summary>
internal sealed class HostGrainServices(
    IOptionsMonitor<RefetchOptions> refetch,
    IOptionsMonitor<PushOptions> push,
    IPushSender pushSender,
    IOptionsMonitor<ProfileOptions> profiles,
    IOptionsMonitor<RenewalOptions> renewal,
    IIdentityIssuer issuer,
    TimeProvider time,
    FleetMetrics metrics,
    IEnumerable<IHostEventSink> eventSinks,
    IndexRecovery indexRecovery,
    LeaseHolders leaseHolders,
    DeactivationFlushes deactivationFlushes,
    [FromKeyedServices(FleetStorage.HostStore)] IGrainStorage stateStorage)
{
    public IOptionsMonitor<RefetchOptions> Refetch { get; } = refetch;

    public IOptionsMonitor<PushOptions> Push { get; } = push;

    public IPushSender PushSender { get; } = pushSender;

    public IOptionsMonitor<ProfileOptions> Profiles { get; } = profiles;

    public IOptionsMonitor<RenewalOptions> Renewal { get; } = renewal;

    public IIdentityIssuer Issuer { get; } = issuer;

    public TimeProvider Time { get; } = time;

    public FleetMetrics Metrics { get; } = metrics;

    /// <summary>Shared by every host of the silo and never changed: an array so that each publish loops without an enumerator.</summary>
    public IHostEventSink[] EventSinks { get; } = [.. eventSinks];

    public IndexRecovery IndexRecovery { get; } = indexRecovery;

    public LeaseHolders LeaseHolders { get; } = leaseHolders;

    /// <summary>Takes deactivating hosts' last-seen writes a few at a time.</summary>
    public DeactivationFlushes DeactivationFlushes { get; } = deactivationFlushes;

    /// <summary>Where host state is stored (<see cref="FleetStorage.HostStore"/>); each grain reads and writes it through its own bridge.</summary>
    public IGrainStorage StateStorage { get; } = stateStorage;
}
