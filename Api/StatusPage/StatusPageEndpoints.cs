using System.Text.Encodings.Web;
using Fleet.Api.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Fleet.Api.StatusPage;

/// <summary>
/// Serves the operator status page: one HTML document at <c>/</c> and its script and style sheet, all
/// embedded in the Api. They are public; the page asks for an operator token and sends it to the API.
/// </summary>
public static class StatusPageEndpoints
{
    /// <summary>Only this origin's scripts, styles and requests; no inline script, no framing.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'";

    private const string DashboardPlaceholder = "{{dashboard-url}}";

    public static IServiceCollection AddStatusPage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StatusPageOptions>()
            .Bind(configuration.GetSection(StatusPageOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<StatusPageOptions>, StatusPageOptionsValidator>();

        return services;
    }

    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<IOptions<StatusPageOptions>>().Value;
        var html = Resource("index.html").Replace(
            DashboardPlaceholder, HtmlEncoder.Default.Encode(options.DashboardUrl ?? string.Empty), StringComparison.Ordinal);
        var script = Resource("app.js");
        var styles = Resource("app.css");

        // Declared in the page, so the browser does not ask for /favicon.ico and log a 404.
        var icon = Resource("favicon.svg");

        app.MapGet("/", (HttpContext context) => Page(context, html, "text/html; charset=utf-8")).AllowAnonymous().ExcludeFromDescription().RequireRateLimiting(RateLimits.Public);
        app.MapGet("/status/app.js", (HttpContext context) => Page(context, script, "text/javascript; charset=utf-8"))
            .AllowAnonymous().ExcludeFromDescription().RequireRateLimiting(RateLimits.Public);
        app.MapGet("/status/app.css", (HttpContext context) => Page(context, styles, "text/css; charset=utf-8"))
            .AllowAnonymous().ExcludeFromDescription().RequireRateLimiting(RateLimits.Public);
        app.MapGet("/status/favicon.svg", (HttpContext context) => Page(context, icon, "image/svg+xml"))
            .AllowAnonymous().ExcludeFromDescription().RequireRateLimiting(RateLimits.Public);

        return app;
    }

    private static ContentHttpResult Page(HttpContext context, string body, string contentType)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache";

        return TypedResults.Text(body, contentType);
    }

    private static string Resource(string name)
    {
        var assembly = typeof(StatusPageEndpoints).Assembly;
        using var stream = assembly.GetManifestResourceStream($"StatusPage/{name}")
            ?? throw new InvalidOperationException($"The Api was built without its status page file '{name}'.");
        using var reader = new StreamReader(stream);

        return reader.ReadToEnd();
    }
}
