using Orleans.Concurrency;

namespace Fleet.Contracts;

/// <summary>What a change means to someone who automates on failures.</summary>
public enum HostAlert
{
    /// <summary>Nothing to alert on.</summary>
    None,

    /// <summary>The host's refetch reached Failed.</summary>
    Failed,

    /// <summary>The host's refetch reached Verified and the refetch before it had Failed.</summary>
    Recovered,
}

/// <summary>
/// One change of a host as its grain published it: the host's indexed fields after the change, the refetch
/// transitions made since its previous event (oldest first; empty when something else changed, for example
/// a profile, the identity or the team), and the alert the change raises. Events of one host come from one
/// activation in order; across a crash a change may be published again, so a consumer keys on
/// (<c>Host.HostId</c>, <c>Host.Revision</c>, transition) rather than counting events.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.host-event")]
public sealed record HostEvent(
    [property: Id(0)] HostIndexEntry Host,
    [property: Id(1)] IReadOnlyList<Transition> Transitions,
    [property: Id(2)] HostAlert Alert,
    [property: Id(3)] DateTimeOffset At);

/// <summary>Receives host events; implemented by the Api (an Orleans client) to feed its event streams.</summary>
public interface IHostEventObserver : IGrainObserver
{
    [OneWay]
    Task OnHostEventsAsync(IReadOnlyList<HostEvent> events);
}

/// <summary>
/// The fleet's event fan-out (key 0): silos publish batches of host events to it, and clients subscribe an
/// observer, renewing the subscription before it lapses.
/// </summary>
public interface IHostEventHubGrain : IGrainWithIntegerKey
{
    /// <summary>Adds or renews a subscription. Returns how long it lasts unless renewed.</summary>
    Task<TimeSpan> SubscribeAsync(IHostEventObserver observer);

    Task UnsubscribeAsync(IHostEventObserver observer);

    [OneWay]
    Task PublishAsync(IReadOnlyList<HostEvent> events);
}

/// <summary>Where the fleet's one event hub lives.</summary>
public static class HostEventHub
{
    /// <summary>The key of the only <see cref="IHostEventHubGrain"/>.</summary>
    public const long Key = 0;
}
