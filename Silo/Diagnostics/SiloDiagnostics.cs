using System.Diagnostics;
using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Fleet.Silo.Diagnostics;

/// <summary>
/// Numbers for operators and the benchmark harness: this silo's storage writes by kind, deactivating hosts' last-seen
/// writes by outcome, memory and activation
/// counts by grain type. The silo listens on loopback only.
/// </summary>
public static class SiloDiagnostics
{
    public static void MapSiloDiagnostics(this WebApplication app)
    {
        var debug = app.MapGroup("/debug");

        debug.MapGet("/storage-writes", (FleetMetrics metrics) => TypedResults.Ok(metrics.StorageWriteTotals()));
        debug.MapGet("/last-seen-flushes", (FleetMetrics metrics) => TypedResults.Ok(metrics.LastSeenFlushTotals()));

        var activations = new ActivationCounter();
        app.Lifetime.ApplicationStopped.Register(activations.Dispose);

        // collect=true forces a full, compacting collection first, so the heap figure is what is live. release=true
        // makes that collection aggressive: the GC also gives back the free memory it keeps committed for later
        // allocations, so the working set shows what the silo holds rather than what its last busy spell left.
        debug.MapGet("/memory", (bool? collect, bool? release) =>
        {
            if (release == true)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
            else if (collect == true)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }

            using var process = Process.GetCurrentProcess();
            var gc = GC.GetGCMemoryInfo();

            return TypedResults.Ok(new
            {
                working_set_bytes = process.WorkingSet64,
                managed_heap_bytes = GC.GetTotalMemory(forceFullCollection: false),
                gc_heap_size_bytes = gc.HeapSizeBytes,
                gc_committed_bytes = gc.TotalCommittedBytes,
                activations = activations.Snapshot(),
            });
        });

        debug.MapBenchmarkPopulation(app.Configuration);
        if (app.Configuration.GetValue<bool>(IndexSeedingKey))
        {
            debug.MapPost("/index/seed", SeedIndex);
        }
    }

    /// <summary>
    /// Benchmark only: lets the harness put entries straight into the host index, to measure operator reads at
    /// fleet sizes that Azurite cannot populate through real enrollments within a benchmark run. Off unless set.
    /// </summary>
    public const string IndexSeedingKey = "Fleet:Benchmark:IndexSeeding";

    private static Ok<int> SeedIndex(IndexSeed[] entries, IGrainFactory grains, TimeProvider time)
    {
        var now = time.GetUtcNow();
        foreach (var seed in entries)
        {
            var status = (RefetchStatus)seed.Status;
            var entry = new HostIndexEntry(
                seed.HostId,
                Revision: 1,
                status,
                seed.Platform,
                seed.OsVersion,
                seed.Hostname,
                seed.Serial,
                seed.LastSeenAt,
                StatusChangedAt: now,
                status == RefetchStatus.Failed ? new Reason("agent_error", "Seeded by the benchmark harness.") : null,
                seed.TeamId);
            _ = grains.GetGrain<IHostIndexShardGrain>(HostIndex.ShardOf(seed.HostId)).PublishAsync(entry);
        }

        return TypedResults.Ok(entries.Length);
    }

    /// <summary>One seeded index entry: a host id no agent enrolled as, with the fields lists filter by.</summary>
    private sealed record IndexSeed(
        string HostId, int Status, string Platform, string OsVersion, string Hostname, string Serial, string? TeamId, DateTimeOffset LastSeenAt);
}
