namespace Fleet.Grains;

/// <summary>Names of the storage the grains use. The silo registers providers under these names.</summary>
public static class FleetStorage
{
    /// <summary>Grain storage provider holding <see cref="Hosts.HostState"/>.</summary>
    public const string HostStore = "hosts";

    /// <summary>Grain storage provider holding <see cref="Teams.TeamState"/>.</summary>
    public const string TeamStore = "teams";

    /// <summary>Grain storage provider holding which host owns each device identity certificate.</summary>
    public const string IdentityStore = "identities";

    /// <summary>Grain storage provider holding each bulk refetch job's spec, cursor and counts.</summary>
    public const string JobStore = "refetch-jobs";

    /// <summary>Azure table holding the host index, one row per host, partitioned by service and shard.</summary>
    public const string IndexTable = "FleetHostIndex";
}
