using System.Diagnostics;

namespace Fleet.AgentSimulator;

/// <summary>
/// Counts every failed request and prints one line for each, but at most 20 lines in 10 seconds,
/// so that an Api which is down does not flood the console.
/// </summary>
public sealed class ErrorLog(Stopwatch clock)
{
    private const int LinesPerWindow = 20;

    private static readonly TimeSpan s_window = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private TimeSpan _windowStart;
    private int _linesInWindow;
    private int _suppressed;
    private long _total;

    public long Total => Interlocked.Read(ref _total);

    public void Report(SimulatedAgent agent, Exception exception)
    {
        Interlocked.Increment(ref _total);
        lock (_lock)
        {
            var now = clock.Elapsed;
            if (now - _windowStart >= s_window)
            {
                _windowStart = now;
                _linesInWindow = 0;
            }

            if (++_linesInWindow > LinesPerWindow)
            {
                _suppressed++;
                return;
            }
        }

        var host = agent.Identity;
        Console.Error.WriteLine(
            $"{ConsoleReport.Stamp(clock)} error {host.Hostname} {host.Uuid} {exception.Message}");
    }

    /// <summary>How many lines were left out since the last call.</summary>
    public int TakeSuppressed()
    {
        lock (_lock)
        {
            var suppressed = _suppressed;
            _suppressed = 0;

            return suppressed;
        }
    }
}
