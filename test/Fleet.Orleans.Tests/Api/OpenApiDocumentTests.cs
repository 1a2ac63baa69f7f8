using System.Net;
using System.Text.Json.Nodes;
using Fleet.Api.Documentation;
using Fleet.Api.Security;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.OpenApi;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// The OpenAPI document at /openapi/v1.json, checked against the endpoints the Api really registers, so an
/// operator endpoint added without documentation fails here.
/// </summary>
public sealed class OpenApiDocumentTests(ClusterFixture fixture)
{
    private const string DocumentPath = "/openapi/v1.json";

    private static readonly string[] s_problemSchemas =
        ["#/components/schemas/ProblemDetails", "#/components/schemas/HttpValidationProblemDetails"];

    [Theory]
    [InlineData("9F0A2C1E-5B7D-4E21-8C3A-2D6F1B0E4A97")]
    [InlineData("12345678")]
    [InlineData("-1-2-3-4-5-6-7-8-")]
    [InlineData("abcdef01--")]
    [InlineData("--------")]
    [InlineData("1234567-")]
    [InlineData("1234567g")]
    [InlineData("1234 5678")]
    public void HostIdPattern_AcceptsExactlyTheIdsTheApiAccepts(string candidate)
    {
        var documented = candidate.Length is >= 8 and <= HostIds.MaxLength
            && System.Text.RegularExpressions.Regex.IsMatch(candidate, ParameterDocs.HostIdPattern);

        Assert.Equal(HostIds.TryNormalize(candidate, out _), documented);
    }

    [Fact]
    public async Task Document_WithoutToken_ParsesAsOpenApi31WithoutErrors()
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync(DocumentPath, TestAborted);
        var text = await response.Content.ReadAsStringAsync(TestAborted);
        var (document, diagnostic) = OpenApiDocument.Parse(text, "json");

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {DocumentPath}: expected 200, got {(int)response.StatusCode}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(document is not null, $"{DocumentPath}: the reader returned no document");
        Assert.True(
            diagnostic?.Errors.Count == 0,
            $"{DocumentPath}: reader errors: {string.Join("; ", diagnostic?.Errors.Select(e => $"{e.Pointer} {e.Message}") ?? [])}");
        Assert.Equal(OpenApiSpecVersion.OpenApi3_1, diagnostic!.SpecificationVersion);
        var invalid = document.Validate(ValidationRuleSet.GetDefaultRuleSet())?.ToList() ?? [];
        Assert.True(invalid.Count == 0, $"{DocumentPath}: validation errors: {string.Join("; ", invalid.Select(e => $"{e.Pointer} {e.Message}"))}");
    }

    [Fact]
    public async Task Document_DescribesExactlyTheRegisteredOperatorEndpoints_EachWithItsMethod()
    {
        var registered = OperatorRoutes().Select(r => $"{r.Method} {r.Path}").Order(StringComparer.Ordinal).ToList();

        var documented = Operations(await DocumentAsync()).Select(o => $"{o.Method} {o.Path}").Order(StringComparer.Ordinal).ToList();

        Assert.True(registered.Count >= 9, $"expected at least the 9 host and profile operations, found {registered.Count}: {string.Join(", ", registered)}");
        Assert.Equal(registered, documented);
    }

    [Fact]
    public void EveryRouteUnderApiV1_ExceptTheAgents_AsksForAnOperatorToken()
    {
        var endpoints = Endpoints()
            .Where(e => Normalize(e.RoutePattern.RawText).StartsWith("/api/v1/", StringComparison.Ordinal))
            .Where(e => !Normalize(e.RoutePattern.RawText).StartsWith("/api/v1/osquery/", StringComparison.Ordinal))
            .ToList();

        var open = endpoints.Where(e => !ApiDocumentation.IsOperatorEndpoint(e.Metadata)).Select(e => e.RoutePattern.RawText).ToList();

        Assert.NotEmpty(endpoints);
        Assert.True(open.Count == 0, $"operator routes without an operator token, so missing from the document: {string.Join(", ", open)}");
    }

    [Fact]
    public async Task EveryOperation_HasSummaryAndSuccessSchemaAndProblemJsonErrors()
    {
        var wrong = new List<string>();

        foreach (var (path, method, operation) in Operations(await DocumentAsync()))
        {
            var name = $"{method} {path}";
            var responses = operation["responses"]!.AsObject();
            if (string.IsNullOrWhiteSpace(Text(operation, "summary")) || string.IsNullOrWhiteSpace(Text(operation, "description")))
            {
                wrong.Add($"{name}: no summary or description");
            }

            var success = responses.Where(r => r.Key.StartsWith('2')).ToList();
            if (success.Count != 1)
            {
                wrong.Add($"{name}: expected one success response, got {string.Join(", ", success.Select(s => s.Key))}");
            }
            else if (success[0].Key != "204" && !HasSchema(success[0].Value))
            {
                wrong.Add($"{name}: success {success[0].Key} has no schema");
            }

            foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5'))
            {
                var schema = response?["content"]?[ProblemJson]?["schema"]?["$ref"]?.GetValue<string>();
                if (!s_problemSchemas.Contains(schema) || response!["content"]!.AsObject().Count != 1)
                {
                    wrong.Add($"{name}: {status} is not only {ProblemJson} with a problem schema: {Show(response)}");
                }
            }

            if (!responses.Any(r => r.Key.StartsWith('4')))
            {
                wrong.Add($"{name}: no 4xx response");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public async Task EveryOperation_RequiresTheBearerScheme_With403ExactlyWhereAMaintainerIsNeeded()
    {
        var document = await DocumentAsync();
        var scheme = document["components"]?["securitySchemes"]?[ApiDocumentation.SecuritySchemeName];
        var maintainerOnly = OperatorRoutes().Where(r => r.MaintainerOnly).Select(r => $"{r.Method} {r.Path}").ToHashSet();
        var wrong = new List<string>();

        foreach (var (path, method, operation) in Operations(document))
        {
            var name = $"{method} {path}";
            var security = operation["security"]?.AsArray().Select(s => string.Join(",", s!.AsObject().Select(p => p.Key))).ToList();
            var responses = operation["responses"]!.AsObject();
            var expectRole = maintainerOnly.Contains(name) ? "`maintainer` token." : "`observer` or `maintainer` token.";
            if (security is not [ApiDocumentation.SecuritySchemeName])
            {
                wrong.Add($"{name}: security {Show(operation["security"])}");
            }

            if (!responses.ContainsKey("401") || responses.ContainsKey("403") != maintainerOnly.Contains(name))
            {
                wrong.Add($"{name}: 401 {responses.ContainsKey("401")}, 403 {responses.ContainsKey("403")}, maintainer only {maintainerOnly.Contains(name)}");
            }

            if (Text(operation, "description")?.EndsWith(expectRole, StringComparison.Ordinal) != true)
            {
                wrong.Add($"{name}: description does not end with the role '{expectRole}'");
            }
        }

        Assert.Equal("http", Text(scheme, "type"));
        Assert.Equal("bearer", Text(scheme, "scheme"));
        Assert.NotEmpty(maintainerOnly);
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public async Task EveryParameter_HasADescriptionAndLimits_AndTeamIsRequiredWhereTheHandlerInsists()
    {
        var document = await DocumentAsync();
        var wrong = new List<string>();

        foreach (var (path, method, operation) in Operations(document))
        {
            foreach (var parameter in operation["parameters"]?.AsArray() ?? [])
            {
                var name = Text(parameter, "name");
                var schema = parameter!["schema"];
                var bounded = schema?["enum"] is not null || schema?["maxLength"] is not null || schema?["maximum"] is not null;
                if (string.IsNullOrWhiteSpace(Text(parameter, "description")) || !bounded)
                {
                    wrong.Add($"{method} {path} {name}: {Show(parameter)}");
                }
            }
        }

        Assert.True(wrong.Count == 0, "parameters without description or limits:\n" + string.Join("\n", wrong));
        Assert.Equal(500, Parameter(document, "/api/v1/hosts", "get", "limit")?["schema"]?["maximum"]?.GetValue<int>());
        Assert.Equal(50, Parameter(document, "/api/v1/hosts", "get", "limit")?["schema"]?["default"]?.GetValue<int>());
        Assert.Equal(true, Parameter(document, "/api/v1/configuration_profiles", "get", "team_id")?["required"]?.GetValue<bool>());
        Assert.Null(Parameter(document, "/api/v1/configuration_profiles/summary", "get", "team_id")?["required"]);
        Assert.Null(Parameter(document, "/api/v1/hosts", "get", "team_id")?["required"]);
    }

    [Fact]
    public async Task BodiesReadAsRawJson_AreDocumentedWithTheirFieldsAndLimits()
    {
        var document = await DocumentAsync();

        var team = Body(document, "/api/v1/hosts/{host_id}/team", "put");
        var profile = Body(document, "/api/v1/configuration_profiles/{identifier}", "put");

        Assert.Equal("[\"team_id\"]", team?["required"]?.ToJsonString());
        Assert.Equal(64, team?["properties"]?["team_id"]?["maxLength"]?.GetValue<int>());
        Assert.Equal("[\"display_name\",\"checksum\"]", profile?["required"]?.ToJsonString());
        Assert.Equal(255, profile?["properties"]?["display_name"]?["maxLength"]?.GetValue<int>());
        Assert.Equal(128, profile?["properties"]?["checksum"]?["maxLength"]?.GetValue<int>());
        Assert.Null(document["components"]?["schemas"]?["JsonElement"]);
    }

    internal static List<(string Path, string Method, JsonObject Operation)> Operations(JsonNode document) =>
        [.. document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(m => (p.Key, m.Key.ToUpperInvariant(), m.Value!.AsObject())))];

    private static bool HasSchema(JsonNode? response) =>
        response?["content"]?.AsObject() is { Count: > 0 } content && content.All(c => c.Value?["schema"] is not null);

    private static JsonNode? Parameter(JsonNode document, string path, string method, string name) =>
        document["paths"]?[path]?[method]?["parameters"]?.AsArray().FirstOrDefault(p => Text(p, "name") == name);

    private static JsonNode? Body(JsonNode document, string path, string method) =>
        document["paths"]?[path]?[method]?["requestBody"]?["content"]?["application/json"]?["schema"];

    private static string Normalize(string? pattern) => "/" + (pattern ?? string.Empty).Trim('/');

    private async Task<JsonNode> DocumentAsync()
    {
        using var http = fixture.AgentClient();
        using var response = await http.GetAsync(DocumentPath, TestAborted);

        return await ExpectStatusAsync(response, HttpStatusCode.OK, $"GET {DocumentPath}");
    }

    private List<RouteEndpoint> Endpoints() =>
        [.. fixture.Api.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()];

    /// <summary>Every method and route of an endpoint that asks for an operator token, as the document spells the path.</summary>
    private List<(string Method, string Path, bool MaintainerOnly)> OperatorRoutes() =>
        [.. Endpoints()
            .Where(e => ApiDocumentation.IsOperatorEndpoint(e.Metadata))
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["(any)"])
                .Select(m => (m, Normalize(e.RoutePattern.RawText),
                    ApiDocumentation.RequiredPolicies(e.Metadata).Contains(OperatorRoles.CanChange))))];
}
