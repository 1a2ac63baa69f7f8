using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Fleet.Api.Documentation;
using Fleet.Api.Hosting;
using Fleet.Api.Security;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Fleet.Api.Operators;

/// <summary>Operator endpoints for a team's configuration profiles and the fleet's OS-settings summary.</summary>
public static class ConfigurationProfilesApi
{
    public const int MaxIdentifierLength = 255;
    public const int MaxDisplayNameLength = 255;
    public const int MaxChecksumLength = 128;

    public static RouteGroupBuilder MapConfigurationProfilesApi(this IEndpointRouteBuilder app)
    {
        var profiles = app.MapGroup("/api/v1/configuration_profiles")
            .RequireAuthorization(OperatorRoles.CanRead)
            .WithTags("Configuration profiles")
            .AsOperatorApi();

        profiles.MapGet("/", ListAsync)
            .WithSummary("List a team's profiles")
            .WithDescription("The configuration profiles the team declares, and a version that grows with every change to them.")
            .WithRequiredQuery("team_id")
            .ProducesValidationProblem();
        profiles.MapGet("/summary", SummaryAsync)
            .WithSummary("Count hosts by OS-settings status")
            .WithDescription(
                "Hosts by OS-settings status (the worst of their profiles), for one team or, without `team_id`, the " +
                "whole fleet. Hosts without profiles are not counted.")
            .ProducesValidationProblem();
        profiles.MapPut("/{identifier}", UpsertAsync)
            .RefusesInvalidJsonText()
            .RequireAuthorization(OperatorRoles.CanChange)
            .WithSummary("Declare a profile")
            .WithDescription(
                "Declares the profile for the team, or replaces it; a new checksum is a new version, which every host of " +
                "the team installs.")
            .WithRequiredQuery("team_id")
            .Accepts<ProfileDeclarationBody>("application/json")
            .ProducesValidationProblem();
        profiles.MapDelete("/{identifier}", DeleteAsync)
            .RequireAuthorization(OperatorRoles.CanChange)
            .WithSummary("Delete a profile")
            .WithDescription("Removes the profile from the team; its hosts remove it in turn.")
            .WithRequiredQuery("team_id")
            .ProducesInvalidOrUnknown();

        return profiles;
    }

    private static async Task<Results<Ok<ProfileDeclaration>, ProblemHttpResult>> UpsertAsync(
        string identifier,
        [FromQuery(Name = "team_id")] string? teamId,
        JsonElement? body,
        IGrainFactory grains)
    {
        if ((InvalidTeam(teamId, required: true) ?? InvalidIdentifier(identifier)) is { } invalid)
        {
            return TypedResults.Problem(invalid);
        }

        if (body is not { ValueKind: JsonValueKind.Object } json)
        {
            return TypedResults.Problem(Problems.Invalid("body", "must be a JSON object {\"display_name\", \"checksum\"}."));
        }

        var displayName = OptionalString(json, "display_name");
        if (displayName is not { Length: > 0 and <= MaxDisplayNameLength })
        {
            return TypedResults.Problem(Problems.Invalid("display_name", $"must be a string of 1 to {MaxDisplayNameLength} characters."));
        }

        var checksum = OptionalString(json, "checksum");
        if (checksum is not { Length: > 0 and <= MaxChecksumLength } || !checksum.All(c => c is > ' ' and <= '~'))
        {
            return TypedResults.Problem(Problems.Invalid(
                "checksum", $"must be 1 to {MaxChecksumLength} printable ASCII characters without spaces."));
        }

        var declared = await grains.GetGrain<ITeamGrain>(teamId!).UpsertProfileAsync(identifier, displayName, checksum);

        return TypedResults.Ok(declared);
    }

    private static async Task<Results<Ok<TeamProfiles>, ProblemHttpResult>> ListAsync(
        [FromQuery(Name = "team_id")] string? teamId, IGrainFactory grains, IdempotentCalls calls)
    {
        if (InvalidTeam(teamId, required: true) is { } invalid)
        {
            return TypedResults.Problem(invalid);
        }

        return TypedResults.Ok(await calls.RunAsync("profiles get", () => grains.GetGrain<ITeamGrain>(teamId!).GetProfilesAsync()));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string identifier, [FromQuery(Name = "team_id")] string? teamId, IGrainFactory grains)
    {
        if ((InvalidTeam(teamId, required: true) ?? InvalidIdentifier(identifier)) is { } invalid)
        {
            return TypedResults.Problem(invalid);
        }

        var deleted = await grains.GetGrain<ITeamGrain>(teamId!).DeleteProfileAsync(identifier);

        return deleted ? TypedResults.NoContent() : TypedResults.Problem(Problems.UnknownProfile(teamId!, identifier));
    }

    private static async Task<Results<Ok<ProfileSummary>, ProblemHttpResult>> SummaryAsync(
        [FromQuery(Name = "team_id")] string? teamId, IGrainFactory grains)
    {
        if (InvalidTeam(teamId, required: false) is { } invalid)
        {
            return TypedResults.Problem(invalid);
        }

        var counts = await HostIndex.AskEveryShardAsync(grains, shard => shard.CountOsSettingsAsync(teamId));

        return TypedResults.Ok(new ProfileSummary(
            counts.Sum(c => c.Verified),
            counts.Sum(c => c.Verifying),
            counts.Sum(c => c.Pending),
            counts.Sum(c => c.Failed)));
    }

    private static ProblemDetails? InvalidTeam(string? teamId, bool required) => teamId switch
    {
        null when required => Problems.Invalid("team_id", "is required."),
        null => null,
        _ when !TeamIds.IsValid(teamId) => Problems.InvalidTeamId(teamId),
        _ => null,
    };

    // Routing leaves an escaped slash (%2F) undecoded in the route value, so it is refused as written too.
    private static ProblemDetails? InvalidIdentifier(string identifier) =>
        identifier.Length is 0 or > MaxIdentifierLength
        || identifier.Any(c => char.IsControl(c) || c == '/')
        || identifier.Contains("%2F", StringComparison.OrdinalIgnoreCase)
            ? Problems.Invalid("identifier", $"must be 1 to {MaxIdentifierLength} characters without control characters or '/'.")
            : null;

    private static string? OptionalString(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

// Documents the body only: the handler reads the JSON itself, to name each mistake in its 400.
/// <summary>A profile's name and the checksum of its payload.</summary>
/// <param name="DisplayName">What operators and the device show.</param>
/// <param name="Checksum">Checksum of the payload: printable ASCII without spaces.</param>
public sealed record ProfileDeclarationBody(
    [property: Required, StringLength(ConfigurationProfilesApi.MaxDisplayNameLength, MinimumLength = 1)] string DisplayName,
    [property: Required, StringLength(ConfigurationProfilesApi.MaxChecksumLength, MinimumLength = 1), RegularExpression("^[!-~]+$")] string Checksum);
