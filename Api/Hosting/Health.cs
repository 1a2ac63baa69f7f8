using Fleet.Api.Security;
using Fleet.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Fleet.Api.Hosting;

internal static class Health
{
    public static IServiceCollection AddFleetHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<ClusterHealthCheck>("cluster", tags: [FleetReadiness.Tag])
            .AddCheck<TableStorageHealthCheck>("storage", tags: [FleetReadiness.Tag]);

        return services;
    }

    public static void MapFleetHealth(this IEndpointRouteBuilder app)
    {
        // Alive: the process answers. Ready: it can reach the cluster and storage, so it may take traffic.
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "alive" })).AllowAnonymous().RequireRateLimiting(RateLimits.Public);
        app.MapFleetReadiness().AllowAnonymous().RequireRateLimiting(RateLimits.Public);
    }
}

/// <summary>Ready when the client can reach a gateway and at least one silo is active.</summary>
internal sealed class ClusterHealthCheck(IClusterClient client) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            // GetHosts takes no token; the wait is bounded here instead.
#pragma warning disable CA2016
            var silos = await client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)
                .WaitAsync(FleetReadiness.ProbeTimeout, cancellationToken);
#pragma warning restore CA2016

            return silos.Count > 0
                ? HealthCheckResult.Healthy($"{silos.Count} active silo(s)")
                : HealthCheckResult.Unhealthy("no active silo");
        }
        catch (Exception exception)
        {
            return HealthCheckResult.Unhealthy($"cluster unreachable: {exception.GetType().Name}");
        }
    }
}
