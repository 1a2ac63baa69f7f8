using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Fleet.Api.Documentation;

/// <summary>The document's title and overview, the bearer security scheme, and what each tag covers.</summary>
internal sealed class OperatorDocumentTransformer : IOpenApiDocumentTransformer
{
    private const string JsonElementSchemaId = "JsonElement";

    private static readonly Dictionary<string, string> s_tags = new(StringComparer.Ordinal)
    {
        ["Hosts"] = "Read hosts, list and count them, request a refetch of their details, and move them between teams.",
        ["Configuration profiles"] = "Declare a team's configuration profiles and count hosts by OS-settings status.",
        ["Events"] = "Live host events as server-sent events.",
    };

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "Fleet.Orleans operator API",
            Version = "v1",
            Description =
                "Host verification for device management: read hosts, request a refetch and watch it reach " +
                "verified or failed, and declare configuration profiles per team.\n\n" +
                "JSON names are snake_case, times are ISO 8601 UTC, and every error is `application/problem+json` " +
                "with `status`, `title` and `detail` (a 400 also names the offending field under `errors`). " +
                "When the cluster or its storage cannot answer, a call gets 503 with `Retry-After`; retrying is safe.\n\n" +
                "Every operation needs `Authorization: Bearer <token>`. An `observer` token may read; a `maintainer` " +
                "token may also change (refetch, move a host, declare or delete a profile).\n\n" +
                "The osquery agent endpoints (`/api/osquery/…`) and the Apple MDM endpoints (`/mdm/…`) are not " +
                "described here: osquery and Apple define those protocols.",
        };

        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[ApiDocumentation.SecuritySchemeName] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description =
                "An operator token from `Fleet:Api:Tokens`, sent as `Authorization: Bearer <token>`. " +
                "Its role is `observer` (read) or `maintainer` (read and change).",
        };

        // The generator lists the tags the operations use; only their descriptions are added here.
        foreach (var tag in document.Tags ?? Enumerable.Empty<OpenApiTag>())
        {
            if (tag.Name is { } name && s_tags.TryGetValue(name, out var description))
            {
                tag.Description = description;
            }
        }

        DropUnusedJsonElement(document);

        return Task.CompletedTask;
    }

    // Bodies read as raw JSON are documented with their declared shape (see OperatorOperationTransformer),
    // which leaves the generator's "any JSON" schema for them unreferenced.
    private static void DropUnusedJsonElement(OpenApiDocument document)
    {
        var referenced = (document.Paths ?? [])
            .SelectMany(p => p.Value.Operations ?? [])
            .SelectMany(o => o.Value.RequestBody?.Content?.Values ?? [])
            .Any(m => m.Schema is OpenApiSchemaReference { Reference.Id: JsonElementSchemaId });
        if (!referenced)
        {
            document.Components?.Schemas?.Remove(JsonElementSchemaId);
        }
    }
}
