using Fleet.Contracts;
using Fleet.Grains.Mdm;
using Fleet.Grains.Mdm.Identity;
using Fleet.Grains.Profiles;
using Fleet.Grains.Refetch;

namespace Fleet.Grains.Hosts;

/// <summary>What a <see cref="HostGrain"/> persists. Ids are never renumbered.</summary>
[GenerateSerializer, Alias("fleet.host-state")]
public sealed class HostState
{
    [Id(0)] public HostDetails? Details { get; set; }
    [Id(1)] public DateTimeOffset? EnrolledAt { get; set; }

    /// <summary>SHA-256 of the secret half of the current node key; the key itself is never stored.</summary>
    [Id(2)] public byte[]? NodeSecretHash { get; set; }
    [Id(3)] public DateTimeOffset? LastSeenAt { get; set; }
    [Id(4)] public DateTimeOffset? DetailUpdatedAt { get; set; }
    [Id(5)] public RefetchRecord? Refetch { get; set; }

    /// <summary>The latest transitions, oldest first, at most <see cref="HostGrain.HistoryLimit"/>.</summary>
    [Id(6)] public List<Transition> Transitions { get; set; } = [];

    /// <summary>Bumped on every write; index shards use it to drop out-of-order publishes.</summary>
    [Id(7)] public long Revision { get; set; }

    /// <summary>When the refetch status last changed, for "how long has it been stuck".</summary>
    [Id(8)] public DateTimeOffset? StatusChangedAt { get; set; }

    /// <summary>The MDM enrollment and push channel; null for a host that never checked in over MDM.</summary>
    [Id(9)] public MdmEnrollment? Mdm { get; set; }

    /// <summary>The MDM command queue, oldest first; null when empty, at least between steps (see <see cref="Compact"/>).</summary>
    [Id(10)] public List<QueuedCommand>? Commands { get; set; }

    /// <summary>
    /// UUIDs of the latest completed commands (at most <see cref="CommandQueue.CompletedLimit"/>), to recognise resent
    /// results; null when there are none, at least between steps.
    /// </summary>
    [Id(11)] public List<string>? CompletedCommands { get; set; }

    /// <summary>The MDM identity certificate and its renewal; null before the device presents one.</summary>
    [Id(12)] public IdentityRecord? Identity { get; set; }
    // Ids 9-19 belong to the MDM command channel.

    /// <summary>The team whose profiles the host carries; null for none.</summary>
    [Id(20)] public string? TeamId { get; set; }

    /// <summary>The <see cref="TeamProfiles.Version"/> last reconciled; older or equal versions are ignored.</summary>
    [Id(21)] public long TeamProfilesVersion { get; set; }

    /// <summary>One record per host–profile pair being installed, installed, or being removed; null when there are none, at least between steps.</summary>
    [Id(22)] public List<ProfileRecord>? Profiles { get; set; }

    public bool Enrolled => EnrolledAt is not null;

    /// <summary>
    /// Drops the lists that are empty, as most hosts' are: null means the same, and three empty lists are about
    /// 100 bytes per active host. The host grain calls it on activation (rows from earlier versions hold empty
    /// lists), before each write, and at the end of a step whose change waits in memory.
    /// </summary>
    public void Compact()
    {
        if (Commands is { Count: 0 })
        {
            Commands = null;
        }

        if (CompletedCommands is { Count: 0 })
        {
            CompletedCommands = null;
        }

        if (Profiles is { Count: 0 })
        {
            Profiles = null;
        }
    }
}
