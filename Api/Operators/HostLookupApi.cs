using Fleet.Api.Documentation;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Fleet.Api.Operators;

/// <summary>GET /api/v1/hosts/identifier/{value}: one host by hardware UUID, serial number or hostname.</summary>
public static class HostLookupApi
{
    /// <summary>The longest value looked up; serials and hostnames are far shorter.</summary>
    public const int MaxValueLength = 255;

    public static RouteHandlerBuilder MapHostLookup(this RouteGroupBuilder hosts) =>
        hosts.MapGet("/identifier/{value}", FindAsync)
            .WithSummary("Find a host by UUID, serial or hostname")
            .WithDescription(
                "Looks the value up in the host index as a hardware UUID (any case), a serial number or a hostname " +
                "(both exact, ignoring case); a UUID match wins over a serial, a serial over a hostname. When several " +
                "hosts share the serial or hostname (a re-imaged Mac), the most recently seen is returned, the others " +
                "are listed in `other_matches` and `note` says so.")
            .ProducesInvalidOrUnknown();

    private static async Task<Results<Ok<HostLookupResponse>, ProblemHttpResult>> FindAsync(
        [FromRoute] string value, IGrainFactory grains)
    {
        if (value.Length > MaxValueLength || string.IsNullOrWhiteSpace(value) || value.Any(char.IsControl))
        {
            return TypedResults.Problem(Problems.Invalid(
                "value", $"must be 1 to {MaxValueLength} characters, not all blank, none of them control characters."));
        }

        var pages = await HostIndex.AskEveryShardAsync(grains, shard => shard.FindAsync(value));
        if (HostMatch.Choose(value, [.. pages.SelectMany(p => p)]) is not { } match)
        {
            return TypedResults.Problem(Problems.NoHostMatches(value));
        }

        var view = await grains.GetGrain<IHostGrain>(match.Host.HostId).GetAsync();
        if (view is null)
        {
            return TypedResults.Problem(Problems.UnknownHost(match.Host.HostId));
        }

        var others = match.Others.Select(e => new HostLookupMatch(e.HostId, e.Hostname, e.Serial, e.LastSeenAt)).ToList();

        return TypedResults.Ok(new HostLookupResponse(match.Host.HostId, match.MatchedBy, view, others, match.Note));
    }
}

/// <summary>
/// Which of the hosts an identifier matched is the answer: a host-id match before a serial match before a
/// hostname match, and among hosts matched the same way the most recently seen (never-seen last, then by id).
/// </summary>
internal sealed record HostMatch(string MatchedBy, HostIndexEntry Host, IReadOnlyList<HostIndexEntry> Others, string? Note)
{
    public static HostMatch? Choose(string value, IReadOnlyCollection<HostIndexEntry> found)
    {
        var hostId = HostIds.TryNormalize(value, out var id) ? id : null;
        var kinds = new (string Word, Func<HostIndexEntry, string?> Field)[]
        {
            ("host_id", e => e.HostId == hostId ? value : null),
            ("serial", e => e.Serial),
            ("hostname", e => e.Hostname),
        };

        foreach (var (word, field) in kinds)
        {
            var matched = found
                .Where(e => string.Equals(field(e), value, StringComparison.OrdinalIgnoreCase))
                .OrderByDescending(e => e.LastSeenAt ?? DateTimeOffset.MinValue)
                .ThenBy(e => e.HostId, StringComparer.Ordinal)
                .ToList();
            if (matched.Count > 0)
            {
                var note = matched.Count == 1
                    ? null
                    : $"{matched.Count} hosts share {word} {field(matched[0])}; the most recently seen is returned.";

                return new HostMatch(word, matched[0], matched[1..], note);
            }
        }

        return null;
    }
}

/// <summary>The host an identifier found, how it matched, and the other hosts that matched the same way.</summary>
public sealed record HostLookupResponse(
    string HostId, string MatchedBy, HostView Host, IReadOnlyList<HostLookupMatch> OtherMatches, string? Note);

/// <summary>Another host that shares the serial or hostname looked up.</summary>
public sealed record HostLookupMatch(string HostId, string? Hostname, string? Serial, DateTimeOffset? LastSeenAt);
