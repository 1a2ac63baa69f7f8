using Fleet.Api.Agents;

namespace Fleet.Api.Diagnostics;

/// <summary>
/// The benchmark baseline: an endpoint shaped like <c>distributed/read</c> (same body parsing, same
/// answer) that never calls a grain, so a run can compare the real endpoint with bare Kestrel in the same
/// process. Mapped only when <c>Fleet:Benchmark:BaselineEndpoints</c> is true.
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
    }
}
