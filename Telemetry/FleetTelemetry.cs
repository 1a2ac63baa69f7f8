using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Fleet.Telemetry;

/// <summary>
/// The OpenTelemetry set-up both processes share: the service's own meters, ASP.NET Core, HttpClient,
/// the runtime and Orleans, exported in Prometheus text at <see cref="MetricsPath"/>; traces of requests
/// and grain calls, made and exported over OTLP only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
/// </summary>
public static class FleetTelemetry
{
    /// <summary>The meter every Fleet.Orleans instrument belongs to; <c>Fleet.Orleans.*</c> are exported too.</summary>
    public const string MeterName = "Fleet.Orleans";

    /// <summary>Orleans' own meter (messaging, activations, grain calls).</summary>
    public const string OrleansMeterName = "Microsoft.Orleans";

    /// <summary>Orleans' activity sources for grain calls made by application code and by the runtime.</summary>
    public static readonly string[] OrleansActivitySources = ["Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime"];

    /// <summary>Where Prometheus scrapes; unauthenticated, meant for a private network.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>The trace attribute and baggage key that carry a host id from a request into its grain calls.</summary>
    public const string HostIdTag = "fleet.host_id";

    /// <summary>The standard variable that turns the OTLP exporter on (for traces, metrics and logs alike).</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IHostApplicationBuilder AddFleetTelemetry(this IHostApplicationBuilder builder, string serviceName)
    {
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithMetrics(metrics => metrics
                .AddMeter(MeterName, MeterName + ".*", OrleansMeterName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());

        // Spans are made only when they go somewhere: a listener that samples every request and grain call
        // and exports nothing cost the Api and the silo CPU on every agent check-in.
        if (!string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointVariable]))
        {
            telemetry
                .WithTracing(tracing => tracing
                    .AddSource(OrleansActivitySources)
                    .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = IsNotScrape)
                    .AddHttpClientInstrumentation())
                .UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Prometheus text at <see cref="MetricsPath"/>, open to anonymous scrapers.</summary>
    public static IEndpointConventionBuilder MapFleetMetrics(this IEndpointRouteBuilder app) =>
        app.MapPrometheusScrapingEndpoint(MetricsPath).AllowAnonymous();

    // A scrape every few seconds would otherwise be most of the traces.
    private static bool IsNotScrape(HttpContext context) => !context.Request.Path.StartsWithSegments(MetricsPath);
}
