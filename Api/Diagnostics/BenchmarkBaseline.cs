using Fleet.Api.Agents;
using Fleet.Contracts;

namespace Fleet.Api.Diagnostics;

/// <summary>
/// The benchmark baselines, mapped only when <c>Fleet:Benchmark:BaselineEndpoints</c> is true. An endpoint shaped
/// like <c>distributed/read</c> (same body parsing, same answer) that never calls a grain, so a run can compare the
/// real endpoint with bare Kestrel in the same process; and the same endpoint making one call to a grain that does
/// nothing (<see cref="IBaselineGrain"/>, keyed by the host), the floor of any check-in that asks a grain.
/// </summary>
public static class BenchmarkBaseline
{
    public const string EnabledKey = "Fleet:Benchmark:BaselineEndpoints";

    public static void MapBenchmarkBaseline(this WebApplication app)
    {
        if (!app.Configuration.GetValue<bool>(EnabledKey))
        {
            return;
        }

        app.MapPost("/bench/baseline/distributed/read", async (HttpRequest request) =>
        {
            var parsed = await OsqueryMessages.ReadNodeKeyAsync(request, OsqueryMessages.MaxNodeKeyBodyBytes, request.HttpContext.RequestAborted);

            return parsed.Error is { } error ? AgentResults.BadRequest(error) : AgentResults.NoQueries;
        }).AllowAnonymous().ExcludeFromDescription();

        app.MapPost("/bench/baseline/grain-call/distributed/read", async (HttpRequest request, IGrainFactory grains) =>
        {
            var parsed = await OsqueryMessages.ReadNodeKeyAsync(request, OsqueryMessages.MaxNodeKeyBodyBytes, request.HttpContext.RequestAborted);
            if (parsed.Error is { } error)
            {
                return AgentResults.BadRequest(error);
            }

            return NodeKeys.TryParse(parsed.Value, out var hostId, out var secret) && await grains.GetGrain<IBaselineGrain>(hostId).PingAsync(secret)
                ? AgentResults.NoQueries
                : AgentResults.NodeInvalid();
        }).AllowAnonymous().ExcludeFromDescription();
    }
}
