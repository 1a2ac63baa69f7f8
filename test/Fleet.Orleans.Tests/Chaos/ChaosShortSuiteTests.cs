using System.Diagnostics;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Chaos;

[CollectionDefinition(nameof(ChaosCollection), DisableParallelization = true)]
public sealed class ChaosCollection;

/// <summary>
/// Runs <c>tools/chaos --short</c>'s driver as a child process on free loopback ports: its own Azurite, two silos, the
/// Api and the simulator, five faults. It takes minutes and the whole machine, so it runs alone, and only in the CI
/// profile (<c>tools/test --ci</c>) or when <c>FLEET_TEST_CHAOS=1</c>. It needs the Release build (tools/test makes it).
/// </summary>
[Collection(nameof(ChaosCollection))]
public sealed class ChaosShortSuiteTests
{
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(12);

    [Fact]
    public async Task ShortChaosSuite_LosesNothingAndLeavesNoHostLate()
    {
        var (root, driver) = ChildRun.ReleaseBuildOf("the chaos suite", "FLEET_TEST_CHAOS", "tools/Chaos/bin/Release/net10.0/Fleet.Orleans.Chaos.dll");
        var data = Directory.CreateTempSubdirectory("fleet-chaos-");
        try
        {
            var (exitCode, output) = await RunAsync(root, driver, data.FullName);

            var resultFile = Path.Combine(data.FullName, "chaos-result.json");
            Assert.True(File.Exists(resultFile), $"no chaos-result.json (exit code {exitCode}); output:\n{output}");
            var result = JsonNode.Parse(await File.ReadAllTextAsync(resultFile, TestAborted))!;
            Assert.True(
                (exitCode, (int?)result["accepted_lost"], (int?)result["late_hosts"], (bool?)result["passed"]) == (0, 0, 0, true),
                $"exit code {exitCode}, accepted lost {result["accepted_lost"]}, late hosts {result["late_hosts"]}; output:\n{output}");
            var faults = (result["faults"] as JsonArray ?? []).Select(fault => (string?)fault!["fault"]).ToList();
            Assert.Equal(["silo-kill", "api-sigterm", "storage-outage", "clock-skew", "reconnect-storm"], faults);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    private static Task<(int ExitCode, string Output)> RunAsync(string root, string driver, string data)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            ArgumentList = { driver, "--short", "--data", data },
        };
        var ports = LoopbackPorts.Free(
            ("FLEET_CHAOS_API_PORT", 1),
            ("FLEET_CHAOS_SILO_HTTP_PORT", 2),
            ("FLEET_CHAOS_SILO_PORT", 2),
            ("FLEET_CHAOS_GATEWAY_PORT", 2),
            ("FLEET_CHAOS_AZURITE_BLOB_PORT", 1),
            ("FLEET_CHAOS_AZURITE_QUEUE_PORT", 1),
            ("FLEET_CHAOS_AZURITE_TABLE_PORT", 1));

        return ChildRun.RunAsync(info, ports, s_limit, TestAborted);
    }
}
