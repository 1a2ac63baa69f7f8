using System.Diagnostics;
using Fleet.Tests.Chaos;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Bench;

/// <summary>
/// Runs <c>bench/run --short</c> (scenarios 1, 2 and 4 at small sizes, under 3 minutes) on free loopback ports, as CI's
/// regression check of the benchmark's invariants: no storage write for a no-op check-in, and storage writes per refetch
/// cycle under the guard. It never judges speed. Like the chaos suite it takes the whole machine, so it shares that
/// suite's collection (run alone) and runs only in the CI profile or with <c>FLEET_TEST_BENCH=1</c>. It needs the
/// Release build (tools/test makes it).
/// </summary>
[Collection(nameof(ChaosCollection))]
public sealed class BenchShortTests
{
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task ShortBenchmark_HoldsItsInvariants()
    {
        var (root, _) = ChildRun.ReleaseBuildOf("the short benchmark", "FLEET_TEST_BENCH", "bench/Fleet.Orleans.Bench/bin/Release/net10.0/Fleet.Orleans.Bench.dll");
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = root,
            ArgumentList = { Path.Combine(root, "bench", "run"), "--short" },
        };
        info.Environment["FLEET_BENCH_SKIP_BUILD"] = "1";
        var ports = LoopbackPorts.Free(
            ("FLEET_BENCH_API_PORT", 1),
            ("FLEET_BENCH_SILO_HTTP_PORT", 1),
            ("FLEET_BENCH_SILO_PORT", 1),
            ("FLEET_BENCH_GATEWAY_PORT", 1),
            ("FLEET_BENCH_AZURITE_BLOB_PORT", 1),
            ("FLEET_BENCH_AZURITE_QUEUE_PORT", 1),
            ("FLEET_BENCH_AZURITE_TABLE_PORT", 1));

        var (exitCode, output) = await ChildRun.RunAsync(info, ports, s_limit, TestAborted);

        var checks = output.Split('\n').Where(line => line.StartsWith("invariant ", StringComparison.Ordinal)).ToList();
        Assert.True(exitCode == 0, $"bench/run --short exited with {exitCode}; output:\n{output}");
        Assert.Equal(2, checks.Count(line => line.StartsWith("invariant ok", StringComparison.Ordinal)));
        Assert.DoesNotContain(checks, line => line.StartsWith("invariant FAIL", StringComparison.Ordinal));
    }
}
