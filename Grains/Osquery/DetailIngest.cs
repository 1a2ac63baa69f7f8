using System.Globalization;
using Fleet.Contracts;
using Fleet.Grains.Hosts;

namespace Fleet.Grains.Osquery;

/// <summary>Reads the rows of osquery's tables into <see cref="HostDetails"/>.</summary>
public static class DetailIngest
{
    /// <summary>
    /// Longest value kept (a DNS name is at most 253). Longer values are cut, so no agent can grow a
    /// host's state or its index row towards the storage limits.
    /// </summary>
    public const int MaxValueLength = 255;

    /// <summary>
    /// Details from the <c>host_details</c> an agent sends with its enrollment, laid over what the host
    /// already knew: a re-enrollment refreshes identity but never erases vitals it does not mention.
    /// </summary>
    public static HostDetails FromEnrollment(
        string hostId,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> hostDetails,
        HostDetails? known = null)
    {
        var details = (known ?? new HostDetails()) with { HardwareUuid = hostId };
        foreach (var (table, row) in hostDetails)
        {
            details = Apply(details, table, [row]);
        }

        return StringPool.Shared.Intern(details)!;
    }

    /// <summary>Applies every detail query that came back with status 0 and at least one row.</summary>
    public static HostDetails FromResults(HostDetails current, DetailResults results)
    {
        var details = current;
        foreach (var (name, rows) in results.Rows)
        {
            if (results.Statuses.GetValueOrDefault(name) == 0 && rows.Count > 0)
            {
                details = Apply(details, name, rows);
            }
        }

        return StringPool.Shared.Intern(details)!;
    }

    /// <summary>
    /// The profiles in an <c>mdm_config_profiles_darwin</c> answer, or null when the write carries none that
    /// came back with status 0. An install date is osquery's <c>2023-03-31 01:14:38 +0000</c> or a unix time;
    /// one that is neither counts as not given.
    /// </summary>
    public static IReadOnlyList<InstalledProfile>? InstalledProfiles(DetailResults results)
    {
        var name = DetailQueries.MdmConfigProfiles;
        if (!results.Rows.TryGetValue(name, out var rows) || results.Statuses.GetValueOrDefault(name) != 0)
        {
            return null;
        }

        var profiles = new List<InstalledProfile>(rows.Count);
        foreach (var row in rows)
        {
            if (Text(row, "identifier") is { } identifier)
            {
                profiles.Add(new InstalledProfile(identifier, Text(row, "display_name"), InstallDate(Text(row, "install_date"))));
            }
        }

        return profiles;
    }

    /// <summary>
    /// The row's install date. None given: null (the profile counts as installed). One given but unreadable:
    /// <see cref="DateTimeOffset.MinValue"/>, older than any upload, so it never confirms a version it cannot date.
    /// </summary>
    private static DateTimeOffset? InstallDate(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (DateTimeOffset.TryParseExact(
            value, "yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            return date.ToUniversalTime();
        }

        if (DateTime.TryParseExact(
            value, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var utc))
        {
            return new DateTimeOffset(utc, TimeSpan.Zero);
        }

        return long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            && seconds is > 0 and < 253402300800
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : DateTimeOffset.MinValue;
    }

    private static HostDetails Apply(HostDetails d, string table, IReadOnlyList<IReadOnlyDictionary<string, string>> rows)
    {
        var row = rows[0];

        return table switch
        {
            "os_version" => d with
            {
                OsName = Text(row, "name") ?? d.OsName,
                OsVersion = Text(row, "version") ?? d.OsVersion,
                OsBuild = Text(row, "build") ?? d.OsBuild,
                Platform = Platforms.Normalize(Text(row, "platform"), Text(row, "platform_like")) ?? d.Platform,
                Arch = Text(row, "arch") ?? d.Arch,
            },
            "os_unix_like" => d with { KernelVersion = Text(row, "kernel_version") ?? d.KernelVersion },
            "osquery_info" => d with { OsqueryVersion = Text(row, "version") ?? d.OsqueryVersion },
            "system_info" => d with
            {
                Hostname = Text(row, "hostname") ?? d.Hostname,
                ComputerName = Text(row, "computer_name") ?? d.ComputerName,
                Serial = Text(row, "hardware_serial") ?? d.Serial,
                HardwareModel = Text(row, "hardware_model") ?? d.HardwareModel,
                HardwareVendor = Text(row, "hardware_vendor") ?? d.HardwareVendor,
                CpuBrand = Text(row, "cpu_brand") ?? d.CpuBrand,
                CpuLogicalCores = Int(row, "cpu_logical_cores") ?? d.CpuLogicalCores,
                PhysicalMemory = Long(row, "physical_memory") ?? d.PhysicalMemory,
            },
            "uptime" => d with { UptimeSeconds = Long(row, "total_seconds") ?? d.UptimeSeconds },
            "network_interface_unix" or "network_interface_windows" => d with
            {
                PrimaryIp = Text(row, "address") ?? d.PrimaryIp,
                PrimaryMac = Text(row, "mac") ?? d.PrimaryMac,
            },
            _ => d,
        };
    }

    private static string? Text(IReadOnlyDictionary<string, string> row, string column)
    {
        if (!row.TryGetValue(column, out var value) || string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var trimmed = value.Trim();

        return trimmed.Length <= MaxValueLength ? trimmed : trimmed[..MaxValueLength];
    }

    private static int? Int(IReadOnlyDictionary<string, string> row, string column) =>
        int.TryParse(Text(row, column), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static long? Long(IReadOnlyDictionary<string, string> row, string column) =>
        long.TryParse(Text(row, column), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
}
