using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fleet.Api.Documentation;
using Fleet.Api.Hosting;
using Fleet.Api.Security;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// The interactive reference at /docs: served without a token, and every script, style and image it loads
/// comes from the Api itself, so it works where nothing outside the network can be reached.
/// </summary>
public sealed partial class OpenApiReferenceTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Docs_WithoutToken_ReturnsHtmlWhoseAssetsAreAllServedByTheApi()
    {
        using var http = fixture.AgentClient();

        using var page = await http.GetAsync("/docs", TestAborted);
        var html = await page.Content.ReadAsStringAsync(TestAborted);
        var assets = AssetUrls().Matches(html).Concat(Favicon().Matches(html)).Select(m => m.Groups["url"].Value).ToList();

        Assert.True(page.StatusCode == HttpStatusCode.OK, $"GET /docs: expected 200, got {(int)page.StatusCode}");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Equal(["scalar.js", "scalar.aspnetcore.js", "favicon.svg"], assets);
        var absolute = AbsoluteUrls().Matches(html).Select(m => m.Value).ToList();
        Assert.True(absolute.Count == 0, $"/docs names other origins: {string.Join(", ", absolute)}");
        foreach (var asset in assets)
        {
            var url = new Uri(new Uri(http.BaseAddress!, "/docs/"), asset);
            using var response = await http.GetAsync(url, TestAborted);
            var length = (await response.Content.ReadAsByteArrayAsync(TestAborted)).Length;

            Assert.True(url.Host == http.BaseAddress!.Host, $"/docs loads {asset} from {url.Host}");
            Assert.True(
                response.StatusCode == HttpStatusCode.OK && length > 0,
                $"/docs asset {url}: expected 200 with a body, got {(int)response.StatusCode} and {length} bytes");
        }
    }

    [Fact]
    public async Task Docs_PointsAtTheDocumentAndTurnsOffEverythingThatCallsOut()
    {
        using var http = fixture.AgentClient();

        var html = await http.GetStringAsync("/docs", TestAborted);

        Assert.Contains("\"url\":\"openapi/v1.json\"", html, StringComparison.Ordinal);
        Assert.Contains("\"withDefaultFonts\":false", html, StringComparison.Ordinal);
        Assert.Contains("\"telemetry\":false", html, StringComparison.Ordinal);
        Assert.Contains("\"agent\":{\"disabled\":true}", html, StringComparison.Ordinal);
        Assert.Contains("\"mcp\":{\"disabled\":true}", html, StringComparison.Ordinal);
        Assert.Contains("\"showDeveloperTools\":\"never\"", html, StringComparison.Ordinal);
        Assert.Contains("\"preferredSecurityScheme\":[\"OperatorToken\"]", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EventStreamEndpoint_IsDocumentedAsTextEventStreamOfItsItems()
    {
        await using var app = await StreamingAppAsync();
        using var http = app.GetTestClient();

        using var response = await http.GetAsync("/openapi/v1.json", TestAborted);
        var document = await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /openapi/v1.json of the streaming app");
        var ok = document["paths"]?["/api/v1/stream"]?["get"]?["responses"]?["200"];
        var content = ok?["content"]?.AsObject();

        Assert.True(content?.Count == 1 && content.ContainsKey(OperatorOperationTransformer.EventStream), $"200 content: {Show(ok)}");
        var schema = content[OperatorOperationTransformer.EventStream]?["schema"];
        Assert.True(
            schema?["properties"]?["host_id"] is not null && schema["properties"]?["count"] is not null,
            $"the stream's schema should be the item's (host_id, count), got {Show(schema)}");
        Assert.Contains("`Tick`", Text(ok, "description"), StringComparison.Ordinal);
        Assert.True(document["paths"]?["/api/v1/stream"]?["get"]?["responses"]?["401"] is not null, $"no 401: {Show(ok)}");
    }

    /// <summary>A bare app with the documentation and one stream endpoint, standing in for the live events route.</summary>
    private static async Task<WebApplication> StreamingAppAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddFleetJson();
        builder.Services.AddFleetApiDocumentation();
        var app = builder.Build();
        app.MapGet("/api/v1/stream", () => TypedResults.ServerSentEvents(Ticks()))
            .RequireAuthorization(OperatorRoles.CanRead)
            .WithSummary("Stream ticks");
        app.MapFleetApiDocumentation();
        await app.StartAsync(TestAborted);

        return app;
    }

    private static async IAsyncEnumerable<Tick> Ticks()
    {
        await Task.CompletedTask;
        yield return new Tick("9F0A2C1E", 1);
    }

    [GeneratedRegex("""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["'](?<url>[^"']+)["']""", RegexOptions.IgnoreCase)]
    private static partial Regex AssetUrls();

    [GeneratedRegex(""""favicon"\s*:\s*"(?<url>[^"]+)"""")]
    private static partial Regex Favicon();

    [GeneratedRegex("""(?:https?:)?//[A-Za-z0-9.-]+""", RegexOptions.IgnoreCase)]
    private static partial Regex AbsoluteUrls();

    internal sealed record Tick(string HostId, int Count);
}
