using System.Collections.Frozen;

namespace Fleet.Grains.Osquery;

/// <summary>One osquery detail query the service hands out during a refetch.</summary>
/// <param name="Name">Name without the wire prefix, matching real agents' results.</param>
/// <param name="Sql">What the agent runs.</param>
/// <param name="Platforms">Families it is handed to.</param>
/// <param name="Required">Whether a refetch completes only once this query is answered.</param>
/// <param name="ErrorFailsRefetch">Whether an error status for this query fails the refetch attempt.</param>
public sealed record DetailQuery(string Name, string Sql, IReadOnlySet<string> Platforms, bool Required, bool ErrorFailsRefetch = true);

/// <summary>
/// The detail queries and which of them a refetch needs. Required queries are the ones every osquery
/// version answers on every platform; the rest are ingested when they come back.
/// </summary>
public static class DetailQueries
{
    private static readonly FrozenSet<string> s_all = FrozenSet.Create(Grains.Platforms.Darwin, Grains.Platforms.Linux, Grains.Platforms.Windows);
    private static readonly FrozenSet<string> s_unix = FrozenSet.Create(Grains.Platforms.Darwin, Grains.Platforms.Linux);
    private static readonly FrozenSet<string> s_windows = FrozenSet.Create(Grains.Platforms.Windows);
    private static readonly FrozenSet<string> s_darwin = FrozenSet.Create(Grains.Platforms.Darwin);

    /// <summary>The configuration profiles a Mac has installed; its rows confirm or miss the host's profiles.</summary>
    public const string MdmConfigProfiles = "mdm_config_profiles_darwin";

    public static IReadOnlyList<DetailQuery> All { get; } =
    [
        new("os_version", "SELECT name, version, major, minor, patch, build, platform, platform_like, codename, arch FROM os_version LIMIT 1", s_all, Required: true),
        new("osquery_info", "SELECT * FROM osquery_info LIMIT 1", s_all, Required: true),
        new("system_info", "SELECT * FROM system_info LIMIT 1", s_all, Required: true),
        new("uptime", "SELECT * FROM uptime LIMIT 1", s_all, Required: true),
        new("os_unix_like", "SELECT os.name, os.version, os.major, os.minor, os.patch, os.build, os.platform, os.arch, k.version AS kernel_version FROM os_version os, kernel_info k LIMIT 1", s_unix, Required: false),
        new("network_interface_unix", "SELECT ia.address, id.mac FROM interface_addresses ia JOIN interface_details id USING (interface) JOIN routes r ON r.interface = ia.interface WHERE r.destination = '0.0.0.0' AND ia.address NOT LIKE '%:%' LIMIT 1", s_unix, Required: false),
        new("network_interface_windows", "SELECT ia.address, id.mac FROM interface_addresses ia JOIN interface_details id USING (interface) WHERE ia.address NOT LIKE '%:%' AND ia.address NOT LIKE '127.%' LIMIT 1", s_windows, Required: false),
        new("osquery_flags", "SELECT name, value FROM osquery_flags WHERE name IN ('distributed_interval', 'config_refresh', 'logger_tls_period')", s_all, Required: false),

        // macos_profiles comes from an osquery extension (fleetd, macadmins) that not every Mac runs: an agent
        // without it answers "no such table", which says nothing about the refetch.
        new(MdmConfigProfiles, "SELECT display_name, identifier, install_date FROM macos_profiles WHERE type = 'Configuration'", s_darwin, Required: false, ErrorFailsRefetch: false),
    ];

    private static readonly FrozenDictionary<string, DetailQuery> s_byName = All.ToFrozenDictionary(q => q.Name);

    public static bool TryGet(string name, out DetailQuery query) => s_byName.TryGetValue(name, out query!);

    /// <summary>The queries handed to a host of <paramref name="platform"/>; unknown families get the Linux set.</summary>
    public static IEnumerable<DetailQuery> For(string? platform)
    {
        var family = platform is Grains.Platforms.Darwin or Grains.Platforms.Windows ? platform : Grains.Platforms.Linux;

        return All.Where(q => q.Platforms.Contains(family));
    }
}
