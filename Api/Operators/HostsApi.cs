using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json;
using Fleet.Api.Documentation;
using Fleet.Api.Diagnostics;
using Fleet.Api.Hosting;
using Fleet.Api.Security;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Fleet.Api.Operators;

/// <summary>Operator endpoints for hosts: read one, find one, list, count, request a refetch, and move one to a team.</summary>
public static partial class HostsApi
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;

    /// <summary>The longest <c>os_version</c> a list filters by; agents report far shorter ones.</summary>
    public const int MaxOsVersionLength = 128;

    /// <summary>The furthest <c>certificate_expires_within_days</c> looks ahead: ten years.</summary>
    public const int MaxExpiryDays = 3650;

    public static RouteGroupBuilder MapHostsApi(this IEndpointRouteBuilder app)
    {
        var hosts = app.MapGroup("/api/v1/hosts")
            .RequireAuthorization(OperatorRoles.CanRead)
            .WithTags("Hosts")
            .MarksRouteHost()
            .AsOperatorApi();

        hosts.MapGet("/", ListAsync)
            .WithSummary("List hosts")
            .WithDescription(
                "A page of hosts from the host index, ordered by host id, with optional filters. Pass `next_cursor` back " +
                "as `cursor` for the next page; it is null on the last one. The index follows hosts within moments of a " +
                "stored change, so `last_seen_at` may lag behind GET of one host.")
            .ProducesValidationProblem();
        hosts.MapHostLookup();
        hosts.MapGet("/summary", SummaryAsync)
            .WithSummary("Count hosts")
            .WithDescription("Hosts by refetch status word and by platform, and hosts whose identity certificate expired or is renewing.");
        hosts.MapGet("/{host_id}", GetAsync)
            .WithSummary("Get a host")
            .WithDescription(
                "Everything about one host: details, refetch, last 50 transitions, team, profiles, MDM and identity " +
                "certificate. `revision` grows with every stored change.")
            .ProducesInvalidOrUnknown();
        hosts.MapPost("/{host_id}/refetch", RefetchAsync)
            .RequireAuthorization(OperatorRoles.CanChange)
            .WithSummary("Refetch a host's details")
            .WithDescription(
                "Asks the host's agent for fresh details and answers the refetch at once; poll GET of the host to see it " +
                "reach verified or failed. While a refetch is in flight the same epoch is returned, not restarted.")
            .ProducesInvalidOrUnknown();
        hosts.MapPut("/{host_id}/team", SetTeamAsync)
            .RefusesInvalidJsonText()
            .RequireAuthorization(OperatorRoles.CanChange)
            .WithSummary("Move a host to a team")
            .WithDescription(
                "Sets the host's team, or none with `{\"team_id\": null}`; the field is required. The host then gets " +
                "that team's configuration profiles.")
            .Accepts<TeamAssignment>("application/json")
            .ProducesInvalidOrUnknown();

        return hosts;
    }

    private static async Task<Results<Ok<HostView>, ProblemHttpResult>> GetAsync(
        [FromRoute(Name = "host_id")] string hostId, IGrainFactory grains, IdempotentCalls calls)
    {
        if (!HostIds.TryNormalize(hostId, out var id))
        {
            return TypedResults.Problem(Problems.InvalidHostId(hostId));
        }

        var view = await calls.RunAsync("host get", () => grains.GetGrain<IHostGrain>(id).GetAsync());

        return view is null ? TypedResults.Problem(Problems.UnknownHost(id)) : TypedResults.Ok(view);
    }

    private static async Task<Results<Accepted<RefetchView>, ProblemHttpResult>> RefetchAsync(
        [FromRoute(Name = "host_id")] string hostId, IGrainFactory grains, IdempotentCalls calls)
    {
        if (!HostIds.TryNormalize(hostId, out var id))
        {
            return TypedResults.Problem(Problems.InvalidHostId(hostId));
        }

        // A repeat answers the refetch the first try started, so a retry cannot start a second one.
        var result = await calls.RunAsync("host refetch", () => grains.GetGrain<IHostGrain>(id).RequestRefetchAsync());

        return result.Outcome == RefetchOutcome.UnknownHost
            ? TypedResults.Problem(Problems.UnknownHost(id))
            : TypedResults.Accepted($"/api/v1/hosts/{id}", result.Refetch!);
    }

    /// <summary>Body <c>{"team_id": "T"}</c>, or <c>{"team_id": null}</c> for no team; the field is required.</summary>
    private static async Task<Results<Ok<HostView>, ProblemHttpResult>> SetTeamAsync(
        [FromRoute(Name = "host_id")] string hostId, JsonElement? body, IGrainFactory grains)
    {
        if (!HostIds.TryNormalize(hostId, out var id))
        {
            return TypedResults.Problem(Problems.InvalidHostId(hostId));
        }

        // Optional so that an empty body reaches this check: a required one failed binding behind the group's filter with a 500.
        if (body is not { ValueKind: JsonValueKind.Object } json
            || !json.TryGetProperty("team_id", out var team)
            || team.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
        {
            return TypedResults.Problem(Problems.Invalid("team_id", "is required: a team id string, or null for no team."));
        }

        var teamId = team.GetString();
        if (teamId is not null && !TeamIds.IsValid(teamId))
        {
            return TypedResults.Problem(Problems.InvalidTeamId(teamId));
        }

        var host = grains.GetGrain<IHostGrain>(id);
        if (!await host.SetTeamAsync(teamId) || await host.GetAsync() is not { } view)
        {
            return TypedResults.Problem(Problems.UnknownHost(id));
        }

        return TypedResults.Ok(view);
    }

    private static async Task<Results<Ok<HostListResponse>, ProblemHttpResult>> ListAsync(
        IGrainFactory grains,
        string? status,
        string? platform,
        string? limit,
        string? cursor,
        [FromQuery(Name = "team_id")] string? teamId,
        [FromQuery(Name = "os_version")] string? osVersion,
        [FromQuery(Name = "os_settings")] string? osSettings,
        [FromQuery(Name = "certificate_expires_within_days")] string? expiresWithin,
        [FromQuery(Name = "last_seen_before")] string? lastSeenBefore,
        TimeProvider time)
    {
        RefetchStatus? statusFilter = null;
        if (status is not null)
        {
            if (!StatusWords.TryParse(status, out var parsed))
            {
                return TypedResults.Problem(Problems.Invalid("status", $"'{status}' is not one of {StatusWords.All}."));
            }

            statusFilter = parsed;
        }

        if (platform is { Length: 0 or > 32 })
        {
            return TypedResults.Problem(Problems.Invalid("platform", "must be 1 to 32 characters."));
        }

        if (osVersion is not null && (osVersion.Length is 0 or > MaxOsVersionLength || osVersion.Any(char.IsControl)))
        {
            return TypedResults.Problem(Problems.Invalid("os_version", $"must be 1 to {MaxOsVersionLength} characters, none of them control characters."));
        }

        if (teamId is not null && !TeamIds.IsValid(teamId))
        {
            return TypedResults.Problem(Problems.InvalidTeamId(teamId));
        }

        ProfileStatus? osSettingsFilter = null;
        if (osSettings is not null)
        {
            if (!OsSettingsWords.TryParse(osSettings, out var parsed))
            {
                return TypedResults.Problem(Problems.Invalid("os_settings", $"'{osSettings}' is not one of {OsSettingsWords.All}."));
            }

            osSettingsFilter = parsed;
        }

        DateTimeOffset? expiresBefore = null;
        if (expiresWithin is not null)
        {
            if (!TryExpiresBefore(expiresWithin, time.GetUtcNow(), out var before))
            {
                return TypedResults.Problem(Problems.Invalid("certificate_expires_within_days", $"must be a whole number of days from 0 to {MaxExpiryDays}."));
            }

            expiresBefore = before;
        }

        DateTimeOffset? seenBefore = null;
        if (lastSeenBefore is not null)
        {
            if (!TryParseTime(lastSeenBefore, out var at))
            {
                return TypedResults.Problem(Problems.Invalid("last_seen_before", "must be an ISO 8601 time with an offset, e.g. 2026-12-01T00:00:00Z."));
            }

            seenBefore = at;
        }

        var pageSize = DefaultPageSize;
        if (limit is not null
            && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out pageSize)
                || pageSize is < 1 or > MaxPageSize))
        {
            return TypedResults.Problem(Problems.Invalid("limit", $"must be between 1 and {MaxPageSize}."));
        }

        string? after = null;
        if (cursor is not null && !TryDecodeCursor(cursor, out after))
        {
            return TypedResults.Problem(Problems.Invalid("cursor", "is not a cursor this API issued."));
        }

        // Ask every shard for one more than a page, so a full merged page tells whether more remain.
        var query = new HostQuery(
            statusFilter, platform, after, pageSize + 1, teamId, osSettingsFilter, expiresBefore, osVersion, seenBefore);
        var pages = await HostIndex.AskEveryShardAsync(grains, shard => shard.QueryAsync(query));
        var merged = pages.SelectMany(p => p.Entries).OrderBy(e => e.HostId, StringComparer.Ordinal).ToList();
        var page = merged.Take(pageSize).Select(HostListItem.From).ToList();
        var next = merged.Count > pageSize ? EncodeCursor(page[^1].HostId) : null;

        return TypedResults.Ok(new HostListResponse(page, pages.Sum(p => p.Total), next));
    }

    private static async Task<Ok<HostSummary>> SummaryAsync(IGrainFactory grains)
    {
        var counts = await HostIndex.AskEveryShardAsync(grains, shard => shard.CountAsync());

        var byStatus = HostIndex.SumByStatus(counts).ToDictionary(p => StatusWords.Of(p.Key), p => p.Value);
        var byPlatform = counts.SelectMany(c => c.ByPlatform)
            .GroupBy(p => p.Key, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(p => p.Value));

        var identity = new IdentitySummary(counts.Sum(c => c.CertificatesExpired), counts.Sum(c => c.CertificatesRenewing));

        return TypedResults.Ok(new HostSummary(counts.Sum(c => c.Total), byStatus, byPlatform, identity));
    }

    /// <summary>
    /// <c>certificate_expires_within_days=N</c>: hosts whose identity certificate's not-after is before
    /// now + N days, expired ones included. False unless N is a whole number from 0 to <see cref="MaxExpiryDays"/>.
    /// </summary>
    internal static bool TryExpiresBefore(string days, DateTimeOffset now, out DateTimeOffset before)
    {
        before = default;
        if (!int.TryParse(days, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count)
            || count > MaxExpiryDays)
        {
            return false;
        }

        before = now.AddDays(count);

        return true;
    }

    /// <summary>
    /// An ISO 8601 date and time with seconds optional and an offset required (<c>Z</c> or <c>±hh:mm</c>). A
    /// space where the offset's sign belongs is read as '+', which an unencoded '+' in a query string becomes.
    /// </summary>
    internal static bool TryParseTime(string value, out DateTimeOffset at)
    {
        at = default;
        if (value.Length > 40 || !IsoTime().IsMatch(value))
        {
            return false;
        }

        var text = value[^6] == ' ' ? string.Concat(value.AsSpan(0, value.Length - 6), "+", value.AsSpan(value.Length - 5)) : value;

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out at);
    }

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,7})?)?(Z|[+\- ][0-9]{2}:[0-9]{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoTime();

    private static string EncodeCursor(string hostId) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(hostId)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryDecodeCursor(string cursor, out string? hostId)
    {
        hostId = null;
        if (cursor.Length > 128)
        {
            return false;
        }

        var base64 = cursor.Replace('-', '+').Replace('_', '/');
        base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
        var bytes = new byte[base64.Length];
        if (!Convert.TryFromBase64String(base64, bytes, out var written))
        {
            return false;
        }

        return HostIds.TryNormalize(Encoding.UTF8.GetString(bytes, 0, written), out hostId);
    }
}

/// <summary>One row of the host list.</summary>
public sealed record HostListItem(
    string HostId,
    RefetchStatus Status,
    string? Platform,
    string? OsVersion,
    string? Hostname,
    string? Serial,
    DateTimeOffset? LastSeenAt,
    DateTimeOffset StatusChangedAt,
    Reason? Reason,
    string? TeamId,
    ProfileStatus OsSettings,
    DateTimeOffset? CertificateNotAfter,
    IdentityState? Identity)
{
    public static HostListItem From(HostIndexEntry e) => new(
        e.HostId, e.Status, e.Platform, e.OsVersion, e.Hostname, e.Serial, e.LastSeenAt, e.StatusChangedAt, e.Reason,
        e.TeamId, e.OsSettings, e.CertificateNotAfter, e.Identity);
}

// Documents the body only: the handler reads the JSON itself, to name each mistake in its 400.
/// <summary>The team a host moves to.</summary>
/// <param name="TeamId">The team, or null for none. Required, even when null.</param>
public sealed record TeamAssignment(
    [property: Required, StringLength(TeamIds.MaxLength, MinimumLength = 1), RegularExpression("^[A-Za-z0-9_-]+$")] string? TeamId);

/// <summary>A page of hosts; pass <see cref="NextCursor"/> back as <c>cursor</c> for the next one.</summary>
public sealed record HostListResponse(IReadOnlyList<HostListItem> Hosts, int Total, string? NextCursor);

/// <summary>Counts per status word and per platform, and of hosts whose identity certificate expired or is being renewed.</summary>
public sealed record HostSummary(
    int Total, IReadOnlyDictionary<string, int> ByStatus, IReadOnlyDictionary<string, int> ByPlatform, IdentitySummary Identity);

/// <summary>Hosts whose MDM identity certificate has expired, and hosts with a renewal in flight.</summary>
public sealed record IdentitySummary(int Expired, int Renewing);

/// <summary>The status words of the API.</summary>
public static class StatusWords
{
    public static string All => "none, pending, verifying, verified, failed";

    public static string Of(RefetchStatus status) => status switch
    {
        RefetchStatus.Pending => "pending",
        RefetchStatus.Verifying => "verifying",
        RefetchStatus.Verified => "verified",
        RefetchStatus.Failed => "failed",
        _ => "none",
    };

    public static bool TryParse(string value, out RefetchStatus status)
    {
        foreach (var candidate in Enum.GetValues<RefetchStatus>())
        {
            if (string.Equals(Of(candidate), value, StringComparison.OrdinalIgnoreCase))
            {
                status = candidate;
                return true;
            }
        }

        status = default;
        return false;
    }
}

/// <summary>The OS-settings words a host list filters by (a host without profiles matches none of them).</summary>
public static class OsSettingsWords
{
    private static readonly Dictionary<string, ProfileStatus> s_words = new(StringComparer.OrdinalIgnoreCase)
    {
        ["verified"] = ProfileStatus.Verified,
        ["verifying"] = ProfileStatus.Verifying,
        ["pending"] = ProfileStatus.Pending,
        ["failed"] = ProfileStatus.Failed,
    };

    public static string All => string.Join(", ", s_words.Keys);

    public static bool TryParse(string value, out ProfileStatus status) => s_words.TryGetValue(value, out status);
}

/// <summary>The problem+json bodies operators get.</summary>
internal static class Problems
{
    public static ProblemDetails UnknownHost(string hostId) => new()
    {
        Status = StatusCodes.Status404NotFound,
        Title = "Unknown host",
        Detail = $"No agent has enrolled as host '{hostId}'.",
    };

    public static ProblemDetails NoHostMatches(string value) => new()
    {
        Status = StatusCodes.Status404NotFound,
        Title = "Unknown host",
        Detail = $"No host has the hardware UUID, serial or hostname '{Truncate(value)}'.",
    };

    public static ProblemDetails UnknownProfile(string teamId, string identifier) => new()
    {
        Status = StatusCodes.Status404NotFound,
        Title = "Unknown profile",
        Detail = $"Team '{teamId}' declares no profile '{Truncate(identifier)}'.",
    };

    public static ProblemDetails InvalidTeamId(string value) => Invalid(
        "team_id",
        $"'{Truncate(value)}' is not a team id (1 to {TeamIds.MaxLength} letters, digits, '-' and '_').");

    public static ProblemDetails InvalidHostId(string value) => Invalid(
        "host_id",
        $"'{Truncate(value)}' is not a hardware UUID (8 to {HostIds.MaxLength} hex digits and dashes).");

    public static ProblemDetails Invalid(string parameter, string message) => new()
    {
        Status = StatusCodes.Status400BadRequest,
        Title = "Invalid request",
        Detail = $"{parameter} {message}",
        Extensions = { ["errors"] = new Dictionary<string, string[]> { [parameter] = [message] } },
    };

    private static string Truncate(string value) => value.Length <= 80 ? value : value[..80] + "…";
}
