using Fleet.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Fleet.Silo.Diagnostics;

/// <summary>
/// The silo's <c>/readyz</c>: its grain storage answers and membership lists it as active. <c>/healthz</c> only
/// says the process runs; a silo that is alive but cut off from storage, or declared dead, is not ready.
/// </summary>
public static class SiloReadiness
{
    public static IServiceCollection AddFleetSiloReadiness(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<SiloMembershipHealthCheck>("membership", tags: [FleetReadiness.Tag])
            .AddCheck<TableStorageHealthCheck>("storage", tags: [FleetReadiness.Tag]);

        return services;
    }
}

/// <summary>Ready when this silo's own entry in the membership view it holds says Active.</summary>
internal sealed class SiloMembershipHealthCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = membership.CurrentSnapshot;
        var status = snapshot.GetSiloStatus(local.SiloAddress);
        var active = snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
        var result = status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo active; {active} active silo(s) at membership version {snapshot.Version}")
            : HealthCheckResult.Unhealthy($"silo is {status} in membership, not Active");

        return Task.FromResult(result);
    }
}
