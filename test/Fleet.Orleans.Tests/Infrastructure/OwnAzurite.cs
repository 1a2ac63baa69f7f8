using System.Diagnostics;
using System.Net.Sockets;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// An Azurite a test starts, stops and starts again on fixed ports with one data folder, to cut storage off
/// from a cluster and give it back with its data. It runs the repository's pinned Azurite (npm ci).
/// </summary>
public sealed class OwnAzurite(int blobPort, int queuePort, int tablePort) : IDisposable
{
    private static readonly TimeSpan s_startLimit = TimeSpan.FromSeconds(30);

    private readonly string _folder = Directory.CreateTempSubdirectory("fleet-azurite-").FullName;
    private Process? _process;

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={TestStorage.DevelopmentAccount};" +
        $"AccountKey={TestStorage.DevelopmentAccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queuePort}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{tablePort}/devstoreaccount1;";

    public async Task StartAsync()
    {
        var root = RepositoryRoot();
        var start = new ProcessStartInfo(Path.Combine(root, "node_modules", ".bin", "azurite"))
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
        {
            "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--location", _folder,
            "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
            "--blobPort", $"{blobPort}", "--queuePort", $"{queuePort}", "--tablePort", $"{tablePort}",
        })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("Azurite did not start");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (!await ListensAsync())
        {
            Assert.False(_process.HasExited, $"Azurite on 127.0.0.1:{tablePort} exited with {(_process.HasExited ? _process.ExitCode : 0)}");
            Assert.True(clock.Elapsed < s_startLimit, $"Azurite did not listen on 127.0.0.1:{tablePort} within {s_startLimit.TotalSeconds} s");
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }

    /// <summary>
    /// Stops the process by its id with SIGTERM, so Azurite saves its tables first: it keeps them in memory and
    /// writes them to disk every 5 s, so a SIGKILL would lose the last seconds of writes it acknowledged.
    /// </summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", $"{process.Id}"]))
        {
            await kill.WaitForExitAsync();
        }

        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    public void Dispose()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        _process?.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<bool> ListensAsync()
    {
        using var socket = new TcpClient();
        try
        {
            await socket.ConnectAsync("127.0.0.1", tablePort);
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
            if (File.Exists(Path.Combine(folder.FullName, "node_modules", ".bin", "azurite")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("node_modules/.bin/azurite not found above the test folder; run npm ci at the repository root");
    }
}
