using Fleet.Api.Agents;
using Fleet.Contracts;

namespace Fleet.Api.Diagnostics;

/// <summary>
/// The benchmark baselines, mapped only when <c>Fleet:Benchmark:BaselineEndpoints</c> is true. An endpoint shaped
/// like <c>distributed/read</c> (same body parsing, same answer) that never calls a grain, so a run can compare the
/// real endpoint with bare Kestrel in the same process; and the same endpoint making one call to a grain that does
/// nothing (<see cref="IBaselineGrain"/>, keyed by the host), the floor of any check-in that asks a grain; and the
/// real check-in asking its host every time, without leases, as it was before them.
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

        // distributed/read as it was before check-in leases: every check-in asks the host, and nothing is leased.
        app.MapPost("/bench/baseline/asking/distributed/read", async (HttpRequest request, IGrainFactory grains) =>
        {
            var parsed = await OsqueryMessages.ReadNodeKeyAsync(request, OsqueryMessages.MaxNodeKeyBodyBytes, request.HttpContext.RequestAborted);
            if (parsed.Error is { } error)
            {
                return AgentResults.BadRequest(error);
            }

            if (!NodeKeys.TryParse(parsed.Value, out var hostId, out var secret))
            {
                return AgentResults.NodeInvalid();
            }

            return AgentResults.Read(await grains.GetGrain<IHostGrain>(hostId).ReadAsync(secret));
        }).AllowAnonymous().ExcludeFromDescription();

        // How many distributed/read check-ins this process answered under a lease so far.
        app.MapGet("/bench/leases", (CheckInLeases leases) => TypedResults.Ok(new { answered = leases.Answered, held = leases.Count }))
            .AllowAnonymous().ExcludeFromDescription();
    }
}
