using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Fleet.Tests.Infrastructure;

/// <summary>Runs one of our own command-line drivers (chaos, benchmark) as a child process, bounded in time.</summary>
internal static class ChildRun
{
    /// <summary>
    /// Skips the test unless it runs in the CI profile or <paramref name="optIn"/> is 1, then answers the repository
    /// root and the full path of <paramref name="built"/> (relative to the root), which must exist.
    /// </summary>
    public static (string Root, string Path) ReleaseBuildOf(string what, string optIn, string built)
    {
        Assert.SkipUnless(
            TestProfile.IsCi || Environment.GetEnvironmentVariable(optIn) == "1",
            $"{what} runs in the CI profile (tools/test --ci) or with {optIn}=1.");
        var root = TestRepository.Root();
        var path = System.IO.Path.Combine(root, built);
        Assert.True(File.Exists(path), $"{path} is missing: build the solution in Release (tools/test does)");

        return (root, path);
    }

    /// <summary>
    /// Starts <paramref name="info"/> with <paramref name="environment"/> added and waits at most
    /// <paramref name="limit"/>; past it the child and everything it started are killed. Returns the exit code
    /// and standard output followed by standard error.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(
        ProcessStartInfo info, IReadOnlyDictionary<string, int> environment, TimeSpan limit, CancellationToken cancellationToken)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value.ToString(CultureInfo.InvariantCulture);
        }

        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(bounded.Token);
        }
        catch (OperationCanceledException)
        {
            // The driver and everything it started: Azurite, silos, Api, load generators.
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output + await errors);
    }
}

/// <summary>Free loopback ports for child processes, so runs never collide with each other or with a developer's.</summary>
internal static class LoopbackPorts
{
    /// <summary>A free port per name; a name with a count above one gets that many consecutive free ports, from the one given.</summary>
    public static Dictionary<string, int> Free(params (string Name, int Count)[] wanted)
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

        return wanted.ToDictionary(w => w.Name, w => Pick(w.Count), StringComparer.Ordinal);
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
}
