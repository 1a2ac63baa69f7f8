using System.Diagnostics;
using Fleet.Contracts;
using Fleet.Telemetry;

namespace Fleet.Silo.Diagnostics;

/// <summary>Grain-call traces for the silo: Orleans' own propagation, and the host id on every host grain call.</summary>
public static class HostTracing
{
    /// <summary>
    /// Continues the caller's trace (and its baggage) into grain calls, then tags each call to a host grain
    /// with <see cref="FleetTelemetry.HostIdTag"/>. The tagging filter is added after Orleans' filter, so it
    /// runs inside the call's activity.
    /// </summary>
    public static ISiloBuilder AddFleetTracing(this ISiloBuilder silo) =>
        silo.AddActivityPropagation().AddIncomingGrainCallFilter<HostIdCallFilter>();

    private sealed class HostIdCallFilter : IIncomingGrainCallFilter
    {
        public Task Invoke(IIncomingGrainCallContext context)
        {
            if (Activity.Current is { } activity && context.Request.GetInterfaceType() == typeof(IHostGrain))
            {
                activity.SetTag(FleetTelemetry.HostIdTag, context.TargetId.Key.ToString());
            }

            return context.Invoke();
        }
    }
}
