using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Fleet.Silo.Diagnostics;

/// <summary>
/// Benchmark only: populates a fleet at the rate the grains and storage allow rather than the rate of four HTTP
/// round trips through the Api per host. Each host is enrolled with its agent's real enrollment details, then taken
/// through one real refetch (request, distributed read, write of its agent's real results) by calling its grain, so
/// it is a real grain with real stored state, exactly as if its agent had done it. Off unless
/// <c>Fleet:Benchmark:BaselineEndpoints</c> is true.
/// </summary>
public static partial class BenchmarkPopulation
{
    public const string EnabledKey = "Fleet:Benchmark:BaselineEndpoints";

    /// <summary>Most hosts of one request in flight at once.</summary>
    public const int MaxConcurrency = 512;

    public static void MapBenchmarkPopulation(this RouteGroupBuilder debug, IConfiguration configuration)
    {
        if (configuration.GetValue<bool>(EnabledKey))
        {
            debug.MapPost("/hosts/populate", PopulateAsync);
        }
    }

    private static async Task<Results<Ok<PopulateResult>, ProblemHttpResult>> PopulateAsync(
        PopulateRequest request, IGrainFactory grains, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (request.Concurrency is < 1 or > MaxConcurrency || request.Hosts.Any(h => !HostIds.TryNormalize(h.HostId, out var id) || id != h.HostId))
        {
            return TypedResults.Problem(
                $"concurrency must be 1-{MaxConcurrency} and every host_id a host id in canonical form.", statusCode: StatusCodes.Status400BadRequest);
        }

        var logger = loggers.CreateLogger(typeof(BenchmarkPopulation));
        var nodeKeys = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var options = new ParallelOptions { MaxDegreeOfParallelism = request.Concurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(request.Hosts, options, async (host, _) =>
        {
            try
            {
                if (await EnrollAndRefetchAsync(grains.GetGrain<IHostGrain>(host.HostId), host) is { } nodeKey)
                {
                    nodeKeys[host.HostId] = nodeKey;
                }
                else
                {
                    LogNotVerified(logger, host.HostId);
                }
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // One host's storage timeout must not lose the batch: it is counted as failed, as the Api's 503 would be.
                LogPopulateFailed(logger, host.HostId, exception);
            }
        });

        return TypedResults.Ok(new PopulateResult(nodeKeys, request.Hosts.Count - nodeKeys.Count));
    }

    /// <summary>The host's node key once its refetch is verified; null when any step did not go as an agent's would.</summary>
    private static async Task<string?> EnrollAndRefetchAsync(IHostGrain grain, PopulateHost host)
    {
        var nodeKey = (await grain.EnrollAsync(new EnrollRequest(host.HostDetails))).NodeKey;
        var secret = nodeKey[(nodeKey.IndexOf(':', StringComparison.Ordinal) + 1)..];
        if ((await grain.RequestRefetchAsync()).Outcome != RefetchOutcome.Started
            || !(await grain.ReadAsync(secret)).NodeValid
            || !await grain.WriteAsync(secret, new DetailResults(host.Rows, host.Statuses, host.Messages)))
        {
            return null;
        }

        return (await grain.GetAsync())?.Refetch?.Status == RefetchStatus.Verified ? nodeKey : null;
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "Benchmark population: host {HostId} did not end verified")]
    private static partial void LogNotVerified(ILogger logger, string hostId);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning, Message = "Benchmark population: host {HostId} failed")]
    private static partial void LogPopulateFailed(ILogger logger, string hostId, Exception exception);

    /// <summary>Hosts to populate and how many to take through their cycle at once.</summary>
    private sealed record PopulateRequest(IReadOnlyList<PopulateHost> Hosts, int Concurrency);

    /// <summary>
    /// One host: the <c>host_details</c> of its agent's enrollment, and the detail query results of its agent's
    /// write, named as the grains name them (without osquery's <c>fleet_detail_query_</c> prefix).
    /// </summary>
    private sealed record PopulateHost(
        [property: JsonPropertyName("host_id")] string HostId,
        [property: JsonPropertyName("host_details")] IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> HostDetails,
        IReadOnlyDictionary<string, IReadOnlyList<IReadOnlyDictionary<string, string>>> Rows,
        IReadOnlyDictionary<string, int> Statuses,
        IReadOnlyDictionary<string, string> Messages);

    /// <summary>The node keys of the hosts that ended verified, by host id, and how many did not.</summary>
    private sealed record PopulateResult(
        [property: JsonPropertyName("node_keys")] IReadOnlyDictionary<string, string> NodeKeys, int Failed);
}
