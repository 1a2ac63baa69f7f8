using Fleet.Contracts;
using Microsoft.Extensions.Options;

namespace Fleet.Api.Diagnostics;

/// <summary>How the Api keeps its metrics. Bound from <c>Fleet:Metrics</c>.</summary>
public sealed class ApiMetricsOptions
{
    public const string SectionName = "Fleet:Metrics";

    public static readonly TimeSpan DefaultHostCountsRefreshPeriod = TimeSpan.FromSeconds(15);

    /// <summary>How often the <c>fleet.hosts</c> gauge re-reads the counts from every index shard.</summary>
    public TimeSpan HostCountsRefreshPeriod { get; set; } = DefaultHostCountsRefreshPeriod;
}

/// <summary>
/// Reads the host counts per status from every index shard every
/// <see cref="ApiMetricsOptions.HostCountsRefreshPeriod"/>, so that a scrape costs no grain call. A failed
/// read, cancelled ones included, keeps the last counts.
/// </summary>
internal sealed partial class HostCountsRefresher(
    IGrainFactory grains,
    ApiMetrics metrics,
    IOptions<ApiMetricsOptions> options,
    TimeProvider time,
    ILogger<HostCountsRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.HostCountsRefreshPeriod, time);
        do
        {
            await RefreshAsync(stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task RefreshAsync(CancellationToken stoppingToken)
    {
        try
        {
            var shards = await HostIndex.AskEveryShardAsync(grains, shard => shard.CountAsync());
            metrics.HostsByStatus(HostIndex.SumByStatus(shards));
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            // A grain call cancelled under load (Orleans cancels an activation that waited too long) is a
            // failed read like any other; only the Api stopping ends the loop. Letting it through would stop
            // the Api, since a background service that throws stops the host.
            LogRefreshFailed(exception);
        }
    }

    [LoggerMessage(EventId = 320, Level = LogLevel.Warning, Message = "Host counts for metrics not refreshed; the last ones stay")]
    private partial void LogRefreshFailed(Exception exception);
}
