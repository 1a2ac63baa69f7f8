using System.Globalization;
using Fleet.Api.Security;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Fleet.Api.Operators;

/// <summary>Maintenance of the host index: rebuild one shard, or all of them, from the hosts' own state.</summary>
public static class IndexApi
{
    // Shards repaired at once by a whole-index repair; each also asks its hosts a few at a time.
    private const int ShardsAtOnce = 4;

    public static RouteGroupBuilder MapIndexApi(this IEndpointRouteBuilder app)
    {
        var index = app.MapGroup("/api/v1/index")
            .RequireAuthorization(OperatorRoles.CanChange)
            .WithTags("Host index")
            .AsOperatorApi();

        index.MapPost("/shards/{shard}/repair", RepairShardAsync)
            .WithSummary("Repair one index shard")
            .WithDescription(
                "Rebuilds the shard from the hosts' own state: every host stored in grain storage that belongs to the " +
                "shard is asked for its current entry, hosts that no longer exist are dropped, and the result is saved " +
                "before the answer. Lists and counts keep answering meanwhile; hosts' own updates wait until it ends.")
            .ProducesValidationProblem();
        index.MapPost("/repair", RepairAllAsync)
            .WithSummary("Repair the whole index")
            .WithDescription($"Repairs every shard, {ShardsAtOnce} at a time, as the one-shard repair does; answers each shard's report in shard order.");

        return index;
    }

    private static async Task<Results<Ok<ShardRepairView>, ProblemHttpResult>> RepairShardAsync(
        [FromRoute] string shard, IGrainFactory grains)
    {
        if (!int.TryParse(shard, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            || number >= HostIndex.ShardCount)
        {
            return TypedResults.Problem(Problems.Invalid("shard", $"must be a shard number from 0 to {HostIndex.ShardCount - 1}."));
        }

        var report = await grains.GetGrain<IHostIndexShardGrain>(number).RepairAsync();

        return TypedResults.Ok(ShardRepairView.From(report));
    }

    private static async Task<Ok<IndexRepairView>> RepairAllAsync(IGrainFactory grains, CancellationToken cancellationToken)
    {
        var reports = new ShardRepairView[HostIndex.ShardCount];
        var options = new ParallelOptions { MaxDegreeOfParallelism = ShardsAtOnce, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, HostIndex.ShardCount), options, async (shard, _) =>
            reports[shard] = ShardRepairView.From(await grains.GetGrain<IHostIndexShardGrain>(shard).RepairAsync()));

        return TypedResults.Ok(new IndexRepairView(reports));
    }
}

/// <summary>What one shard repair found: the hosts the shard now holds, and how many it added, corrected and dropped.</summary>
public sealed record ShardRepairView(int Shard, int Hosts, int Added, int Updated, int Removed, long TookMs)
{
    public static ShardRepairView From(IndexRepairReport report) => new(
        report.Shard, report.Hosts, report.Added, report.Updated, report.Removed, (long)report.Took.TotalMilliseconds);
}

/// <summary>Every shard's repair, in shard order.</summary>
public sealed record IndexRepairView(IReadOnlyList<ShardRepairView> Shards);
