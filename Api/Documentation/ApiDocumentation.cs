using Fleet.Api.Security;
using Microsoft.AspNetCore.Authorization;
using Scalar.AspNetCore;

namespace Fleet.Api.Documentation;

/// <summary>
/// The operator API's OpenAPI document at <c>/openapi/v1.json</c> and its interactive reference at
/// <c>/docs</c>. Both describe the API and disclose no data, so both are readable without a token.
/// </summary>
public static class ApiDocumentation
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/{documentName}.json";
    public const string ReferencePath = "/docs";

    /// <summary>The name of the bearer security scheme in the document.</summary>
    public const string SecuritySchemeName = "OperatorToken";

    public static IServiceCollection AddFleetApiDocumentation(this IServiceCollection services) =>
        services.AddOpenApi(DocumentName, options =>
        {
            options.ShouldInclude = description => IsOperatorEndpoint(description.ActionDescriptor.EndpointMetadata);
            options.AddDocumentTransformer<OperatorDocumentTransformer>();
            options.AddOperationTransformer<OperatorOperationTransformer>();
        });

    public static IEndpointRouteBuilder MapFleetApiDocumentation(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi(DocumentPath).AllowAnonymous().RequireRateLimiting(RateLimits.Public);

        // Scalar serves its bundle from the assembly (scalar.js under /docs); everything that would call
        // out of the Api is switched off, so the page works on a network without Internet access.
        // The developer toolbar (SDK generation, deploy and share buttons) points at Scalar's services: hidden.
        app.MapScalarApiReference(ReferencePath, options =>
            {
                options.ShowDeveloperTools = DeveloperToolsVisibility.Never;
                options
                    .WithTitle("Fleet.Orleans operator API")
                    .WithOpenApiRoutePattern(DocumentPath)
                    .AddDocument(DocumentName, "Operator API v1")
                    .AddPreferredSecuritySchemes(SecuritySchemeName)
                    .DisableDefaultFonts()
                    .DisableTelemetry()
                    .DisableAgent()
                    .DisableMcp();
            })
            .AllowAnonymous()
            .RequireRateLimiting(RateLimits.Public);

        return app;
    }

    /// <summary>Documents <paramref name="name"/> as a required query parameter (see <see cref="RequiredQueryParameter"/>).</summary>
    public static RouteHandlerBuilder WithRequiredQuery(this RouteHandlerBuilder builder, string name) =>
        builder.WithMetadata(new RequiredQueryParameter(name));

    /// <summary>Documents the 400 of a malformed id or field and the 404 of an id that names nothing.</summary>
    public static RouteHandlerBuilder ProducesInvalidOrUnknown(this RouteHandlerBuilder builder) =>
        builder.ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);

    /// <summary>
    /// An operator endpoint is one that asks for an operator token. Agent (osquery) and MDM endpoints are
    /// anonymous at the HTTP layer and authenticate in their own protocol, so they are left out.
    /// </summary>
    public static bool IsOperatorEndpoint(IEnumerable<object> metadata) => RequiredPolicies(metadata).Any();

    /// <summary>The operator policies an endpoint requires (<see cref="OperatorRoles.CanRead"/>, <see cref="OperatorRoles.CanChange"/>).</summary>
    public static IReadOnlyList<string> RequiredPolicies(IEnumerable<object> metadata)
    {
        var items = metadata.ToList();
        if (items.OfType<IAllowAnonymous>().Any())
        {
            return [];
        }

        return [.. items.OfType<IAuthorizeData>()
            .Select(a => a.Policy)
            .OfType<string>()
            .Where(p => p is OperatorRoles.CanRead or OperatorRoles.CanChange)
            .Distinct()];
    }
}
