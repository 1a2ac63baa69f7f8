using System.Diagnostics;

namespace Fleet.Chaos;

/// <summary>
/// One process the chaos run started itself, so that it knows its PID and ends only that process. Output goes
/// to a log file, appended across restarts.
/// </summary>
internal sealed class ServiceProcess : IDisposable
{
    private readonly Process _process;

    private ServiceProcess(string name, Process process, string logFile)
    {
        Name = name;
        _process = process;
        LogFile = logFile;
    }

    public string Name { get; }

    public string LogFile { get; }

    public int Pid => _process.Id;

    public bool IsRunning => !_process.HasExited;

    /// <summary>Runs <paramref name="command"/> from <paramref name="workDir"/> with extra environment variables.</summary>
    public static ServiceProcess Start(
        string name, string workDir, string logFile, IReadOnlyDictionary<string, string> environment, params string[] command)
    {
        // sh replaces itself with the command (exec), so the PID is the command's own.
        var info = new ProcessStartInfo("/bin/sh") { WorkingDirectory = workDir, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec \"$0\" \"$@\" </dev/null >>\"$FLEET_CHAOS_LOG\" 2>&1");
        foreach (var part in command)
        {
            info.ArgumentList.Add(part);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        info.Environment["FLEET_CHAOS_LOG"] = logFile;
        Directory.CreateDirectory(Path.GetDirectoryName(logFile)!);
        File.AppendAllText(logFile, $"===== {name} started {DateTimeOffset.UtcNow:O} =====\n");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{name} did not start");

        return new ServiceProcess(name, process, logFile);
    }

    /// <summary>Sends a signal by name (TERM, INT, HUP) with kill(1).</summary>
    public void Signal(string signal)
    {
        if (!IsRunning)
        {
            return;
        }

        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-s", signal, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
        kill?.WaitForExit();
    }

    /// <summary>SIGKILL: no chance to clean up.</summary>
    public void Kill()
    {
        if (IsRunning)
        {
            _process.Kill(entireProcessTree: false);
        }
    }

    /// <summary>Sends <paramref name="signal"/>, waits up to <paramref name="grace"/> for the exit, then kills.</summary>
    public async Task<bool> StopAsync(string signal, TimeSpan grace)
    {
        Signal(signal);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);

            return true;
        }
        catch (OperationCanceledException)
        {
            Kill();
            await _process.WaitForExitAsync(CancellationToken.None);

            return false;
        }
    }

    /// <summary>The last lines of the log, to show why a process did not come up.</summary>
    public string Tail(int lines = 20) =>
        File.Exists(LogFile) ? string.Join('\n', File.ReadLines(LogFile).TakeLast(lines)) : "(no log)";

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
