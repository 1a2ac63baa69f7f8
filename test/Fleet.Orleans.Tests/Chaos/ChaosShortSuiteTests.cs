using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
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
        Assert.SkipUnless(
            TestProfile.IsCi || Environment.GetEnvironmentVariable("FLEET_TEST_CHAOS") == "1",
            "The chaos suite runs in the CI profile (tools/test --ci) or with FLEET_TEST_CHAOS=1.");
        var root = RepositoryRoot();
        var driver = Path.Combine(root, "tools", "Chaos", "bin", "Release", "net10.0", "Fleet.Orleans.Chaos.dll");
        Assert.True(File.Exists(driver), $"{driver} is missing: build the solution in Release (tools/test does)");
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

    private static async Task<(int ExitCode, string Output)> RunAsync(string root, string driver, string data)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { driver, "--short", "--data", data },
        };
        foreach (var (name, port) in FreePorts())
        {
            info.Environment[name] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync(TestAborted);
        var errors = process.StandardError.ReadToEndAsync(TestAborted);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestAborted);
        limit.CancelAfter(s_limit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            // The driver and everything it started: Azurite, silos, Api, simulators.
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output + await errors);
    }

    /// <summary>Free loopback ports for every process; silos take the base port and the next one.</summary>
    private static Dictionary<string, int> FreePorts()
    {
        var taken = new HashSet<int>();
        int Pick(int count)
        {
            while (true)
            {
                using var probe = new TcpListener(IPAddress.Loopback, 0);
                probe.Start();
                var port = ((IPEndPoint)probe.LocalEndpoint).Port;
                probe.Stop();
                var ports = Enumerable.Range(port, count).ToList();
                if (ports.All(candidate => candidate < 65535 && !taken.Contains(candidate) && IsFree(candidate)))
                {
                    taken.UnionWith(ports);

                    return port;
                }
            }
        }

        return new Dictionary<string, int>
        {
            ["FLEET_CHAOS_API_PORT"] = Pick(1),
            ["FLEET_CHAOS_SILO_HTTP_PORT"] = Pick(2),
            ["FLEET_CHAOS_SILO_PORT"] = Pick(2),
            ["FLEET_CHAOS_GATEWAY_PORT"] = Pick(2),
            ["FLEET_CHAOS_AZURITE_BLOB_PORT"] = Pick(1),
            ["FLEET_CHAOS_AZURITE_QUEUE_PORT"] = Pick(1),
            ["FLEET_CHAOS_AZURITE_TABLE_PORT"] = Pick(1),
        };
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();

            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Fleet.Orleans.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"no Fleet.Orleans.sln above {AppContext.BaseDirectory}");
    }
}
