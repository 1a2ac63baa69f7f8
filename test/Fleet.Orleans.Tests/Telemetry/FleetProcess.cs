using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Fleet.Tests.Telemetry;

/// <summary>
/// A product process (the silo or the Api) run from its own build output, as <c>tools/start</c> runs it, with
/// its settings in the environment. Its console output is kept; it is killed (with its children) on dispose.
/// </summary>
internal sealed class FleetProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private FleetProcess(Process process) => _process = process;

    public IReadOnlyCollection<string> Output => _output;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="assembly"/> from the output folder of <paramref name="projectFolder"/>.</summary>
    public static FleetProcess Start(string projectFolder, string assembly, IReadOnlyDictionary<string, string> environment)
    {
        var folder = OutputFolderOf(projectFolder);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(folder, assembly + ".dll"));

        // Nothing the test process inherited may send telemetry anywhere.
        start.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        var started = new FleetProcess(process);
        process.OutputDataReceived += (_, line) => started.Keep(line.Data);
        process.ErrorDataReceived += (_, line) => started.Keep(line.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        return started;
    }

    /// <summary>A loopback port free at the time of asking.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }

    // The test runs from test/Fleet.Orleans.Tests/<output>; each app's build is in <project>/<output>.
    private static string OutputFolderOf(string projectFolder)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Fleet.Orleans.sln")))
        {
            root = root.Parent;
        }

        Assert.True(root is not null, $"no Fleet.Orleans.sln above {AppContext.BaseDirectory}");
        var output = Path.GetRelativePath(Path.Combine(root.FullName, "test", "Fleet.Orleans.Tests"), AppContext.BaseDirectory);

        return Path.Combine(root.FullName, projectFolder, output);
    }
}
