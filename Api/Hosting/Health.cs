using System.Text.Json;
using Azure.Data.Tables;
using Fleet.Api.Security;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Fleet.Api.Hosting;

internal static class Health
{
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    public static IServiceCollection AddFleetHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<ClusterHealthCheck>("cluster", tags: ["ready"])
            .AddCheck<StorageHealthCheck>("storage", tags: ["ready"]);

        return services;
    }

    public static void MapFleetHealth(this IEndpointRouteBuilder app)
    {
        // Alive: the process answers. Ready: it can reach the cluster and storage, so it may take traffic.
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "alive" })).AllowAnonymous().RequireRateLimiting(RateLimits.Public);
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            ResponseWriter = WriteAsync,
        }).AllowAnonymous().RequireRateLimiting(RateLimits.Public);
    }

    internal static CancellationTokenSource Timeout(CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        source.CancelAfter(ProbeTimeout);

        return source;
    }

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status == HealthStatus.Healthy ? "ready" : "unavailable",
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status == HealthStatus.Healthy ? "ok" : "failing", detail = e.Value.Description }),
        };

        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
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
                .WaitAsync(Health.ProbeTimeout, cancellationToken);
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

/// <summary>Ready when Azure Table storage answers a cheap query.</summary>
internal sealed class StorageHealthCheck(TableServiceClient tables) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = Health.Timeout(cancellationToken);
            await foreach (var _ in tables.QueryAsync(maxPerPage: 1, cancellationToken: timeout.Token).AsPages(pageSizeHint: 1))
            {
                break;
            }

            return HealthCheckResult.Healthy("table storage answered");
        }
        catch (Exception exception)
        {
            return HealthCheckResult.Unhealthy($"table storage unreachable: {exception.GetType().Name}");
        }
    }
}
