using System.Globalization;
using System.Text.Json.Nodes;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>A configuration profile installed on a simulated Mac.</summary>
/// <param name="Identifier">The profile's <c>PayloadIdentifier</c>.</param>
/// <param name="DisplayName">The profile's <c>PayloadDisplayName</c>.</param>
/// <param name="Uuid">The profile's <c>PayloadUUID</c>.</param>
/// <param name="InstallDate">When it was installed, to the second.</param>
/// <param name="Managed">Whether this service's MDM installed it.</param>
public sealed record MacProfile(string Identifier, string DisplayName, string Uuid, DateTimeOffset InstallDate, bool Managed)
{
    /// <summary>The install date as <c>profiles -C -o stdout-xml</c> (and so osquery's <c>macos_profiles</c>) writes it.</summary>
    public string InstallDateText =>
        InstallDate.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss '+0000'", CultureInfo.InvariantCulture);

    /// <summary>The row of Fleet's <c>mdm_config_profiles_darwin</c> detail query for this profile.</summary>
    public JsonObject ToOsqueryRow() => new()
    {
        ["display_name"] = DisplayName,
        ["identifier"] = Identifier,
        ["install_date"] = InstallDateText,
    };
}

/// <summary>
/// The profiles every simulated Mac starts with: the configuration profiles in the real
/// <c>profiles -C -o stdout-xml</c> output at <c>test/payloads/osquery-extension/test_profiles_stdout.plist</c>
/// (embedded in this assembly), read the way osquery's <c>macos_profiles</c> table reads it.
/// </summary>
public static class MacProfiles
{
    /// <summary>The detail query whose rows list a Mac's configuration profiles.</summary>
    public const string OsqueryQuery = "fleet_detail_query_mdm_config_profiles_darwin";

    private const string Resource = "payloads/test_profiles_stdout.plist";

    private static readonly Lazy<IReadOnlyList<MacProfile>> s_baseline = new(() => Parse(Load()));

    public static IReadOnlyList<MacProfile> Baseline => s_baseline.Value;

    /// <summary>Reads the <c>_computerlevel</c> configuration profiles of a <c>profiles -C -o stdout-xml</c> output.</summary>
    public static IReadOnlyList<MacProfile> Parse(string profilesOutput)
    {
        var root = Plist.Read(profilesOutput);
        var computer = root.GetValueOrDefault("_computerlevel") as List<object> ?? [];

        return computer
            .OfType<Dictionary<string, object>>()
            .Where(profile => Text(profile, "ProfileType") == "Configuration")
            .Select(profile => new MacProfile(
                Text(profile, "ProfileIdentifier") ?? throw new FormatException("a profile has no ProfileIdentifier"),
                Text(profile, "ProfileDisplayName") ?? "",
                Text(profile, "ProfileUUID") ?? "",
                ParseInstallDate(Text(profile, "ProfileInstallDate")),
                Managed: false))
            .ToList();
    }

    private static DateTimeOffset ParseInstallDate(string? text) =>
        DateTimeOffset.ParseExact(
            text ?? "", "yyyy-MM-dd HH:mm:ss '+0000'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private static string? Text(Dictionary<string, object> dict, string key) => dict.GetValueOrDefault(key) as string;

    private static string Load()
    {
        using var stream = typeof(MacProfiles).Assembly.GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"Embedded payload '{Resource}' is missing from the build.");
        using var reader = new StreamReader(stream);

        return reader.ReadToEnd();
    }
}
