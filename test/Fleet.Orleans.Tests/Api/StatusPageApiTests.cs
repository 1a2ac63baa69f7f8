using System.Net;
using Fleet.Api.StatusPage;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>The status page's files as the Api serves them: public, self-contained, and locked down by headers.</summary>
public sealed class StatusPageApiTests(ClusterFixture fixture)
{
    [Theory]
    [InlineData("/", "text/html")]
    [InlineData("/status/app.js", "text/javascript")]
    [InlineData("/status/app.css", "text/css")]
    public async Task StatusPageFile_WithoutToken_IsServedWithSecurityHeaders(string path, string mediaType)
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync(path, TestAborted);

        await ExpectStatusOkAsync(response, path);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(StatusPageEndpoints.ContentSecurityPolicy, Header(response, "Content-Security-Policy"));
        Assert.Contains("frame-ancestors 'none'", Header(response, "Content-Security-Policy"), StringComparison.Ordinal);
        Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
        Assert.Equal("DENY", Header(response, "X-Frame-Options"));
        Assert.Equal("no-referrer", Header(response, "Referrer-Policy"));
    }

    [Fact]
    public async Task StatusPageIcon_WithoutToken_IsAnSvgWithTheSameHeaders()
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync("/status/favicon.svg", TestAborted);
        var body = await response.Content.ReadAsStringAsync(TestAborted);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/svg+xml", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("<svg ", body, StringComparison.Ordinal);
        Assert.Equal(StatusPageEndpoints.ContentSecurityPolicy, Header(response, "Content-Security-Policy"));
        Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
    }

    [Fact]
    public async Task StatusPage_Html_LoadsOnlyItsOwnScriptAndStylesAndNoInlineScript()
    {
        using var http = fixture.AgentClient();

        var html = await http.GetStringAsync("/", TestAborted);

        Assert.Equal(1, Count(html, "<script"));
        Assert.Contains("<script src=\"/status/app.js\" defer></script>", html, StringComparison.Ordinal);
        Assert.Contains("<link rel=\"stylesheet\" href=\"/status/app.css\">", html, StringComparison.Ordinal);
        Assert.Contains("<link rel=\"icon\" href=\"/status/favicon.svg\" type=\"image/svg+xml\">", html, StringComparison.Ordinal);
        Assert.DoesNotContain(" style=", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\son[a-z]+\s*=", html);
        Assert.DoesNotContain("http://", html, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        Assert.Contains("data-dashboard-url=\"\"", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("/dashboard")]
    [InlineData("javascript:alert(1)")]
    [InlineData("ftp://127.0.0.1/dashboard")]
    public void DashboardUrl_NotAnAbsoluteHttpUrl_FailsValidationNamingTheKey(string url)
    {
        var result = new StatusPageOptionsValidator().Validate(null, new StatusPageOptions { DashboardUrl = url });

        Assert.True(result.Failed, $"DashboardUrl '{url}' passed validation");
        Assert.Contains("Fleet:StatusPage:DashboardUrl", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("http://127.0.0.1:8080/dashboard")]
    [InlineData("https://silo.example.invalid/dashboard")]
    public void DashboardUrl_AbsentOrHttp_PassesValidation(string? url)
    {
        var result = new StatusPageOptionsValidator().Validate(null, new StatusPageOptions { DashboardUrl = url });

        Assert.True(result.Succeeded, $"DashboardUrl '{url}' failed: {result.FailureMessage}");
    }

    private static async Task ExpectStatusOkAsync(HttpResponseMessage response, string path)
    {
        var body = await response.Content.ReadAsStringAsync(TestAborted);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: expected 200, got {(int)response.StatusCode}");
        Assert.True(body.Length > 500, $"GET {path}: body of only {body.Length} characters");
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : string.Empty;

    private static int Count(string text, string part) =>
        (text.Length - text.Replace(part, string.Empty, StringComparison.Ordinal).Length) / part.Length;
}
