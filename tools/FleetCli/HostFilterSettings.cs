using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Fleet.Cli;

/// <summary>The host index's filters, shared by <c>hosts list</c> and <c>refetch-jobs start</c>.</summary>
public class HostFilterSettings : ApiSettings
{
    [CommandOption("--status <STATUS>")]
    [Description("Refetch status: none, pending, verifying, verified or failed.")]
    public string? Status { get; init; }

    [CommandOption("--platform <PLATFORM>")]
    [Description("Platform, e.g. darwin, linux, windows, ios, ipados.")]
    public string? Platform { get; init; }

    [CommandOption("--os-version <VERSION>")]
    [Description("OS version or a prefix ending at a dot: 15 matches 15, 15.1 and 15.1.2.")]
    public string? OsVersion { get; init; }

    [CommandOption("--team <TEAM_ID>")]
    [Description("Team id.")]
    public string? Team { get; init; }

    [CommandOption("--os-settings <STATUS>")]
    [Description("Worst configuration-profile status: verified, verifying, pending or failed.")]
    public string? OsSettings { get; init; }

    [CommandOption("--last-seen-before <TIME>")]
    [Description("Hosts last seen before this ISO 8601 time (e.g. 2026-12-01T00:00:00Z), and never-seen hosts.")]
    public string? LastSeenBefore { get; init; }

    [CommandOption("--cert-expiring-within <DAYS>")]
    [Description("Hosts whose MDM identity certificate expires within this many days (expired ones included).")]
    public int? CertExpiringWithin { get; init; }

    public override ValidationResult Validate()
    {
        var basic = base.Validate();
        if (!basic.Successful)
        {
            return basic;
        }

        if (LastSeenBefore is not null && ParseTime(LastSeenBefore) is null)
        {
            return ValidationResult.Error($"--last-seen-before '{LastSeenBefore}' is not an ISO 8601 time with an offset, e.g. 2026-12-01T00:00:00Z");
        }

        return CertExpiringWithin is < 0
            ? ValidationResult.Error("--cert-expiring-within must be 0 or more days")
            : ValidationResult.Success();
    }

    /// <summary>True when any filter is given.</summary>
    public bool HasFilter =>
        Status is not null || Platform is not null || OsVersion is not null || Team is not null
        || OsSettings is not null || LastSeenBefore is not null || CertExpiringWithin is not null;

    /// <summary>The filters as <c>GET /api/v1/hosts</c> query parameters (name, value).</summary>
    public IEnumerable<KeyValuePair<string, string>> QueryParameters()
    {
        var filter = ToFilter();
        (string Name, string? Value)[] pairs =
        [
            ("status", filter.Status),
            ("platform", filter.Platform),
            ("os_version", filter.OsVersion),
            ("team_id", filter.TeamId),
            ("os_settings", filter.OsSettings),
            ("last_seen_before", filter.LastSeenBefore?.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture)),
            ("certificate_expires_within_days", filter.CertificateExpiresWithinDays?.ToString(CultureInfo.InvariantCulture)),
        ];

        return pairs.Where(p => p.Value is not null).Select(p => KeyValuePair.Create(p.Name, p.Value!));
    }

    /// <summary>The filters as a refetch job's <c>filter</c> object.</summary>
    public JobFilterJson ToFilter() => new(
        Status, Platform, OsVersion, Team, OsSettings,
        LastSeenBefore is null ? null : ParseTime(LastSeenBefore)!.Value.ToUniversalTime(),
        CertExpiringWithin);

    private static DateTimeOffset? ParseTime(string value) =>
        DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time : null;
}
