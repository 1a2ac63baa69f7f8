using System.Net.ServerSentEvents;
using System.Text.Json;
using Fleet.Api.Hosting;
using Fleet.Api.Security;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Fleet.Api.Documentation;

/// <summary>
/// What every operator operation has in common, written once here rather than on each endpoint: the bearer
/// requirement and the role it needs, the 401, 403 and 503 problems, the parameters' formats and limits,
/// and the media type of a server-sent event stream.
/// </summary>
internal sealed class OperatorOperationTransformer : IOpenApiOperationTransformer
{
    public const string ProblemJson = "application/problem+json";
    public const string EventStream = "text/event-stream";
    private const string ProblemSchemaId = "ProblemDetails";

    private static readonly Dictionary<string, string> s_problemDescriptions = new(StringComparer.Ordinal)
    {
        ["400"] = "A parameter or the body is not valid: `detail` says why, and `errors` names the field when one is at fault.",
        ["404"] = "No such host, no such profile in the team, or no such refetch job: `detail` names it.",
    };

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var policies = ApiDocumentation.RequiredPolicies(metadata);
        var maintainerOnly = policies.Contains(OperatorRoles.CanChange);
        operation.Responses ??= [];

        RequireToken(operation, context.Document, maintainerOnly);
        await AddProblemAsync(operation, context, StatusCodes.Status401Unauthorized,
            "No operator token, or one that is not valid. The response carries `WWW-Authenticate: Bearer`.", cancellationToken);
        if (maintainerOnly)
        {
            await AddProblemAsync(operation, context, StatusCodes.Status403Forbidden,
                "The token's role is observer; this operation needs a maintainer token.", cancellationToken);
        }

        await AddProblemAsync(operation, context, StatusCodes.Status503ServiceUnavailable,
            $"The cluster or its storage did not answer. Retry after `Retry-After` seconds ({ClusterUnavailableHandler.RetryAfterSeconds}).",
            cancellationToken);
        DescribeStandardProblems(operation);
        DescribeParameters(operation, metadata);
        await DescribeBodyAsync(operation, context, metadata, cancellationToken);
        await DescribeEventStreamAsync(operation, context, metadata, cancellationToken);
    }

    private static void RequireToken(OpenApiOperation operation, OpenApiDocument? document, bool maintainerOnly)
    {
        var role = maintainerOnly
            ? "Needs a `maintainer` token."
            : "Needs an `observer` or `maintainer` token.";
        operation.Description = string.IsNullOrEmpty(operation.Description) ? role : $"{operation.Description}\n\n{role}";
        operation.Security =
        [
            new OpenApiSecurityRequirement
            {
                [new OpenApiSecuritySchemeReference(ApiDocumentation.SecuritySchemeName, document)] = [],
            },
        ];
    }

    private static async Task AddProblemAsync(
        OpenApiOperation operation, OpenApiOperationTransformerContext context, int status, string description, CancellationToken cancellationToken)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }

        var response = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                [ProblemJson] = new() { Schema = await ProblemSchemaAsync(context, cancellationToken) },
            },
        };
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            response.Headers = new Dictionary<string, IOpenApiHeader>
            {
                ["Retry-After"] = new OpenApiHeader
                {
                    Description = "Seconds to wait before retrying.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
                },
            };
        }

        operation.Responses[key] = response;
    }

    /// <summary>The shared ProblemDetails component, registered by the first operation that needs it.</summary>
    private static async Task<IOpenApiSchema> ProblemSchemaAsync(OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var document = context.Document!;
        if (document.Components?.Schemas?.ContainsKey(ProblemSchemaId) != true)
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken);
            document.AddComponent(ProblemSchemaId, schema);
        }

        return new OpenApiSchemaReference(ProblemSchemaId, document);
    }

    /// <summary>Replaces the generic reason phrase of a 400 or 404 declared on the endpoint with what it means here.</summary>
    private static void DescribeStandardProblems(OpenApiOperation operation)
    {
        foreach (var (key, description) in s_problemDescriptions)
        {
            if (operation.Responses!.TryGetValue(key, out var response) && response is OpenApiResponse declared)
            {
                declared.Description = description;
            }
        }
    }

    /// <summary>
    /// Handlers that read their body as raw JSON, to name each mistake in a 400, declare the shape they expect
    /// with <c>Accepts&lt;T&gt;</c>; that shape is documented instead of "any JSON".
    /// </summary>
    private static async Task DescribeBodyAsync(
        OpenApiOperation operation, OpenApiOperationTransformerContext context, IList<object> metadata, CancellationToken cancellationToken)
    {
        var declared = metadata.OfType<IAcceptsMetadata>()
            .LastOrDefault(a => a.RequestType is { } type && type != typeof(JsonElement));
        if (declared is null || operation.RequestBody is not OpenApiRequestBody body)
        {
            return;
        }

        var schema = await context.GetOrCreateSchemaAsync(declared.RequestType!, null, cancellationToken);
        body.Content = declared.ContentTypes.ToDictionary(
            type => type, _ => new OpenApiMediaType { Schema = schema }, StringComparer.OrdinalIgnoreCase);
    }

    private static void DescribeParameters(OpenApiOperation operation, IList<object> metadata)
    {
        var required = metadata.OfType<RequiredQueryParameter>().Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>())
        {
            ParameterDocs.TryDescribe(parameter);
            if (parameter.Name is { } name && required.Contains(name))
            {
                parameter.Required = true;
            }
        }
    }

    /// <summary>
    /// An endpoint that declares a <c>text/event-stream</c> response (a <c>ServerSentEventsResult&lt;T&gt;</c>
    /// does so by itself; a hand-written stream needs <c>.Produces&lt;T&gt;(200, "text/event-stream")</c>)
    /// is documented as a stream whose every event carries one JSON <c>T</c> in its <c>data</c> field.
    /// </summary>
    private static async Task DescribeEventStreamAsync(
        OpenApiOperation operation, OpenApiOperationTransformerContext context, IList<object> metadata, CancellationToken cancellationToken)
    {
        var stream = metadata.OfType<IProducesResponseTypeMetadata>()
            .FirstOrDefault(m => m.ContentTypes.Contains(EventStream, StringComparer.OrdinalIgnoreCase));
        if (stream is null)
        {
            return;
        }

        var itemType = stream.Type is { IsGenericType: true } type && type.GetGenericTypeDefinition() == typeof(SseItem<>)
            ? type.GetGenericArguments()[0]
            : stream.Type ?? typeof(string);
        var key = stream.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        operation.Responses![key] = new OpenApiResponse
        {
            Description =
                $"A stream of server-sent events that stays open; each event's `data` is one JSON `{itemType.Name}`.",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                [EventStream] = new() { Schema = await context.GetOrCreateSchemaAsync(itemType, null, cancellationToken) },
            },
        };
    }
}

/// <summary>
/// Documents a query parameter as required where the handler answers 400 without it; the handler binds it
/// as optional so that it can name the parameter in that 400.
/// </summary>
public sealed record RequiredQueryParameter(string Name);
