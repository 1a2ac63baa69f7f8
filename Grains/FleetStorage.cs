namespace Fleet.Grains;

/// <summary>Names of the storage the grains use. The silo registers providers under these names.</summary>
public static class FleetStorage
{
    /// <summary>Grain storage provider holding <see cref="Hosts.HostState"/>.</summary>
    public const string HostStore = "hosts";

    /// <summary>
    /// The state name of <see cref="Hosts.HostState"/>; the table grain storage keeps it as each host row's key,
    /// which is how the index repair finds the hosts.
    /// </summary>
    public const string HostStateName = "host";

    /// <summary>Grain storage provider holding <see cref="Teams.TeamState"/>.</summary>
    public const string TeamStore = "teams";

    /// <summary>Grain storage provider holding which host owns each device identity certificate.</summary>
    public const string IdentityStore = "identities";

    /// <summary>Grain storage provider holding each bulk refetch job's spec, cursor and counts.</summary>
    public const string JobStore = "refetch-jobs";

    /// <summary>Grain storage provider holding the first answers to operator requests sent with an idempotency key.</summary>
    public const string IdempotencyStore = "idempotency";

    /// <summary>Azure table holding grain state (Orleans' default name), which the index repair reads to list hosts.</summary>
    public const string GrainStateTable = "OrleansGrainState";

    /// <summary>Azure table holding the host index, one row per host, partitioned by service and shard.</summary>
    public const string IndexTable = "FleetHostIndex";
}
