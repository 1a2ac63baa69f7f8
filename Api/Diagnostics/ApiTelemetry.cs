using System.Diagnostics;
using Fleet.Contracts;
using Fleet.Telemetry;

namespace Fleet.Api.Diagnostics;

/// <summary>The Api's telemetry: the shared OpenTelemetry set-up, its own instruments, and the host id on traces.</summary>
public static class ApiTelemetry
{
    public static WebApplicationBuilder AddFleetApiTelemetry(this WebApplicationBuilder builder)
    {
        builder.AddFleetTelemetry("fleet-api");
        builder.Services.AddSingleton<ApiMetrics>();
        builder.Services.AddOptions<ApiMetricsOptions>()
            .BindConfiguration(ApiMetricsOptions.SectionName)
            .Validate(
                o => o.HostCountsRefreshPeriod > TimeSpan.Zero,
                $"{ApiMetricsOptions.SectionName}:{nameof(ApiMetricsOptions.HostCountsRefreshPeriod)} must be positive.")
            .ValidateOnStart();
        builder.Services.AddHostedService<HostCountsRefresher>();

        return builder;
    }

    /// <summary>
    /// Puts the host a request is about on the request's activity, as a tag for this span and as baggage
    /// that Orleans carries into the grain calls the request makes. Only a recorded span is marked: ASP.NET Core
    /// makes an activity for every request even when nothing listens, and its baggage would be encoded into every
    /// grain call for a trace that goes nowhere.
    /// </summary>
    public static void MarkHost(string hostId)
    {
        if (Activity.Current is { Recorded: true } activity)
        {
            activity.SetTag(FleetTelemetry.HostIdTag, hostId);
            activity.AddBaggage(FleetTelemetry.HostIdTag, hostId);
        }
    }

    /// <summary>Marks the request with the <c>{host_id}</c> of its route, when it is a valid host id.</summary>
    public static TBuilder MarksRouteHost<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter((context, next) =>
        {
            if (context.HttpContext.Request.RouteValues.TryGetValue("host_id", out var value)
                && value is string raw
                && HostIds.TryNormalize(raw, out var hostId))
            {
                MarkHost(hostId);
            }

            return next(context);
        });

    /// <summary>Counts each agent request by endpoint (the path under the group) and by how it was answered.</summary>
    public static RouteGroupBuilder CountsAgentRequests(this RouteGroupBuilder group, string prefix) =>
        group.AddEndpointFilterFactory((factory, next) =>
        {
            // One filter per endpoint: its label and the meter are looked up once, not on every check-in.
            var metrics = factory.ApplicationServices.GetRequiredService<ApiMetrics>();
            string? label = null;

            return async context =>
            {
                var result = await next(context);
                var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : context.HttpContext.Response.StatusCode;
                label ??= EndpointLabel(context.HttpContext, prefix);
                metrics.AgentRequest(label, status switch
                {
                    StatusCodes.Status200OK => ApiMetrics.ResultOk,
                    StatusCodes.Status400BadRequest => ApiMetrics.ResultBadRequest,
                    _ => ApiMetrics.ResultInvalid,
                });

                return result;
            };
        });

    // The route's own pattern, not the request path: routing ignores case, a label must not.
    private static string EndpointLabel(HttpContext context, string prefix) =>
        context.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { } pattern }
            && pattern.StartsWith(prefix + "/", StringComparison.Ordinal)
                ? pattern[(prefix.Length + 1)..].Replace('/', '_')
                : "other";
}
