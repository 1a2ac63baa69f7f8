using System.Diagnostics;
using Fleet.Grains.Diagnostics;

namespace Fleet.Silo.Diagnostics;

/// <summary>
/// Numbers for operators and the benchmark harness: this silo's storage writes by kind and memory, and
/// the cluster's activation counts by grain type. The silo listens on loopback only.
/// </summary>
public static class SiloDiagnostics
{
    public static void MapSiloDiagnostics(this WebApplication app)
    {
        var debug = app.MapGroup("/debug");

        debug.MapGet("/storage-writes", (FleetMetrics metrics) => TypedResults.Ok(metrics.StorageWriteTotals()));

        // collect=true forces a full, compacting collection first, so the heap figure is what is live.
        debug.MapGet("/memory", async (bool? collect, IGrainFactory grains) =>
        {
            if (collect == true)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }

            using var process = Process.GetCurrentProcess();
            var statistics = await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
            var activations = statistics
                .GroupBy(s => s.GrainType)
                .ToDictionary(g => g.Key, g => g.Sum(s => s.ActivationCount));

            return TypedResults.Ok(new
            {
                working_set_bytes = process.WorkingSet64,
                managed_heap_bytes = GC.GetTotalMemory(forceFullCollection: false),
                gc_heap_size_bytes = GC.GetGCMemoryInfo().HeapSizeBytes,
                activations,
            });
        });
    }
}
