using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Fleet.Telemetry;

/// <summary>
/// <c>/readyz</c> of the Api and of every silo: the checks tagged <see cref="Tag"/>, answered as
/// <c>{"status": "ready"|"unavailable", "checks": {name: {status, detail}}}</c>, 200 when all pass and 503
/// otherwise, so a load balancer and an operator read the same reason.
/// </summary>
public static class FleetReadiness
{
    public const string Tag = "ready";

    /// <summary>How long one check may take; a store that does not answer by then counts as down.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    public static IEndpointConventionBuilder MapFleetReadiness(this IEndpointRouteBuilder app) =>
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(Tag),
            ResponseWriter = WriteAsync,
        });

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

/// <summary>Ready when Azure Table storage answers a cheap query within <see cref="FleetReadiness.ProbeTimeout"/>.</summary>
public sealed class TableStorageHealthCheck(TableServiceClient tables) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(FleetReadiness.ProbeTimeout);
        try
        {
            await foreach (var _ in tables.QueryAsync(maxPerPage: 1, cancellationToken: timeout.Token).AsPages(pageSizeHint: 1))
            {
                break;
            }

            return HealthCheckResult.Healthy("table storage answered");
        }
        catch (Exception exception)
        {
            return HealthCheckResult.Unhealthy($"table storage unreachable: {Describe(exception)}");
        }
    }

    /// <summary>One line an operator can act on; never a stack trace or a connection string.</summary>
    private static string Describe(Exception exception) => exception switch
    {
        OperationCanceledException => $"no answer within {FleetReadiness.ProbeTimeout.TotalSeconds:F0} s",
        RequestFailedException { Status: > 0 } failed => $"HTTP {failed.Status} {failed.ErrorCode}",
        RequestFailedException { InnerException: { } inner } => inner.Message,
        _ => exception.GetType().Name,
    };
}
