using System.Globalization;
using System.Text.Json.Nodes;
using Fleet.Api.Operators;
using Fleet.Contracts;
using Microsoft.OpenApi;

namespace Fleet.Api.Documentation;

/// <summary>
/// What each operator parameter accepts. The handlers take these as strings and check them themselves,
/// to answer every mistake with a 400 naming the parameter, so their formats and limits are written here,
/// from the same constants the handlers check against.
/// </summary>
internal static class ParameterDocs
{
    /// <summary>Hex digits and dashes with at least eight digits, as <c>HostIds.TryNormalize</c> requires.</summary>
    internal const string HostIdPattern = "^(?:-*[0-9A-Fa-f]){8}[0-9A-Fa-f-]*$";
    private const string TeamIdPattern = "^[A-Za-z0-9_-]+$";

    private static readonly Dictionary<string, (string Description, Func<OpenApiSchema> Schema)> s_parameters =
        new(StringComparer.Ordinal)
        {
            ["host_id"] = (
                "The host's hardware UUID: 8 to 64 hex digits and dashes (at least 8 digits), any case.",
                () => Text(8, HostIds.MaxLength, HostIdPattern, "9F0A2C1E-5B7D-4E21-8C3A-2D6F1B0E4A97")),
            ["team_id"] = (
                $"A team id: 1 to {TeamIds.MaxLength} letters, digits, '-' and '_', compared as written.",
                () => Text(1, TeamIds.MaxLength, TeamIdPattern, "engineering")),
            ["identifier"] = (
                $"The profile's PayloadIdentifier: 1 to {ConfigurationProfilesApi.MaxIdentifierLength} characters " +
                "without control characters or '/'.",
                () => Text(1, ConfigurationProfilesApi.MaxIdentifierLength, null, "com.example.wifi")),
            ["status"] = (
                "Only hosts whose refetch status is this word (any case).",
                () => Words(StatusWords.All)),
            ["platform"] = (
                "Only hosts of this osquery platform, for example 'darwin' or 'ubuntu'.",
                () => Text(1, 32, null, "darwin")),
            ["os_version"] = (
                "Only hosts reporting this OS version or one that continues it after a dot: '15' matches '15', " +
                $"'15.1' and '15.1.2' but not '150.0'. 1 to {HostsApi.MaxOsVersionLength} characters without control characters.",
                () => Text(1, HostsApi.MaxOsVersionLength, null, "15.1")),
            ["os_settings"] = (
                "Only hosts whose OS-settings status (the worst of their profiles) is this word (any case); " +
                "hosts without profiles match none.",
                () => Words(OsSettingsWords.All)),
            ["certificate_expires_within_days"] = (
                "Only hosts whose MDM identity certificate expires within this many days from now, " +
                "expired ones included.",
                () => Whole(0, HostsApi.MaxExpiryDays, null)),
            ["last_seen_before"] = (
                "Only hosts last seen before this time, and hosts never seen: ISO 8601 with an offset, seconds optional " +
                "(encode '+' as %2B).",
                () => Text(17, 40, null, "2026-12-01T00:00:00Z")),
            ["value"] = (
                $"A hardware UUID (any case), serial number or hostname (exact, ignoring case): 1 to {HostLookupApi.MaxValueLength} " +
                "characters without control characters.",
                () => Text(1, HostLookupApi.MaxValueLength, null, "C02XK1JHJG5J")),
            ["shard"] = (
                "An index shard number.",
                () => Whole(0, HostIndex.ShardCount - 1, null)),
            ["limit"] = (
                "Hosts per page.",
                () => Whole(1, HostsApi.MaxPageSize, HostsApi.DefaultPageSize)),
            ["job_id"] = (
                "A refetch job's id as POST /api/v1/refetch_jobs returned it: 32 lowercase hex digits.",
                () => Text(32, 32, "^[0-9a-f]{32}$", "0193a5c2e4b87d6f9a1b2c3d4e5f6a7b")),
            ["cursor"] = (
                "The next_cursor of the previous page; leave out for the first page.",
                () => Text(1, 128, "^[A-Za-z0-9_-]+$", null)),
        };

    /// <summary>The names this class documents.</summary>
    public static IEnumerable<string> Names => s_parameters.Keys;

    /// <summary>Sets the description and schema of a parameter this class knows; false for any other.</summary>
    public static bool TryDescribe(OpenApiParameter parameter)
    {
        if (parameter.Name is not { } name || !s_parameters.TryGetValue(name, out var docs))
        {
            return false;
        }

        parameter.Description = docs.Description;
        parameter.Schema = docs.Schema();

        return true;
    }

    private static OpenApiSchema Text(int minLength, int maxLength, string? pattern, string? example) => new()
    {
        Type = JsonSchemaType.String,
        MinLength = minLength,
        MaxLength = maxLength,
        Pattern = pattern,
        Examples = example is null ? null : [JsonValue.Create(example)],
    };

    private static OpenApiSchema Whole(int minimum, int maximum, int? byDefault) => new()
    {
        Type = JsonSchemaType.Integer,
        Format = "int32",
        Minimum = minimum.ToString(CultureInfo.InvariantCulture),
        Maximum = maximum.ToString(CultureInfo.InvariantCulture),
        Default = byDefault is { } value ? JsonValue.Create(value) : null,
    };

    private static OpenApiSchema Words(string commaSeparated) => new()
    {
        Type = JsonSchemaType.String,
        Enum = [.. commaSeparated.Split(", ").Select(w => (JsonNode)JsonValue.Create(w))],
    };
}
