using System.Diagnostics;
using System.Globalization;

namespace Fleet.Bench;

/// <summary>The machine a run measured: what the report's numbers are relative to.</summary>
internal sealed record MachineInfo(int Cores, long MemoryBytes, string CpuModel, string Os, string Runtime)
{
    public static MachineInfo Read()
    {
        var memory = ReadLines("/proc/meminfo")
            .Where(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024)
            .FirstOrDefault();
        var cpu = ReadLines("/proc/cpuinfo")
            .Where(l => l.StartsWith("model name", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())
            .FirstOrDefault() ?? "unknown";

        return new MachineInfo(
            Environment.ProcessorCount,
            memory,
            cpu,
            System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
    }

    /// <summary>The 1-, 5- and 15-minute load averages.</summary>
    public static string LoadAverage() =>
        string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    public static double LoadAverage1() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    private static IEnumerable<string> ReadLines(string path) => File.Exists(path) ? File.ReadLines(path) : [];
}

/// <summary>Cores used during a phase, per process of ours and for the whole machine.</summary>
internal sealed record CpuUse(TimeSpan Elapsed, IReadOnlyDictionary<string, double> Cores, double MachineCores)
{
    /// <summary>Busy cores not accounted for by our processes: other work on the machine.</summary>
    public double Others => Math.Max(0, MachineCores - Cores.Values.Sum());

    public string Describe() =>
        string.Join(", ", Cores.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value:0.00}")))
        + string.Create(CultureInfo.InvariantCulture, $", other work {Others:0.00} (machine busy {MachineCores:0.00} of {Environment.ProcessorCount})");
}

/// <summary>
/// Reads CPU time from <c>/proc</c>: each named process's user+system ticks, and the machine's busy ticks,
/// so a report can say which process a phase was bound by and how much other work shared the cores.
/// </summary>
internal sealed class CpuMeter
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    private readonly Func<IReadOnlyDictionary<string, int>> _pids;

    public CpuMeter(Func<IReadOnlyDictionary<string, int>> pids) => _pids = pids;

    public Sample Start() => new(Stopwatch.GetTimestamp(), _pids().ToDictionary(p => p.Key, p => (p.Value, ProcessTicks(p.Value))), MachineBusyTicks());

    public static CpuUse Stop(Sample start)
    {
        var elapsed = Stopwatch.GetElapsedTime(start.Timestamp);
        var seconds = Math.Max(elapsed.TotalSeconds, 1e-6);
        var cores = start.Processes.ToDictionary(
            p => p.Key,
            p => Math.Max(0, ProcessTicks(p.Value.Pid) - p.Value.Ticks) / TicksPerSecond / seconds,
            StringComparer.Ordinal);

        // The machine's counters and the processes' are read at slightly different moments; never report
        // the machine less busy than our own processes were.
        var machine = (MachineBusyTicks() - start.MachineTicks) / TicksPerSecond / seconds;

        return new CpuUse(elapsed, cores, Math.Max(machine, cores.Values.Sum()));
    }

    private static long ProcessTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

            // Fields 14 and 15 of stat (utime, stime); the split starts at field 3.
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static long MachineBusyTicks()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();

        // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        return fields.Take(8).Sum() - fields[3] - fields[4];
    }

    internal sealed record Sample(long Timestamp, Dictionary<string, (int Pid, long Ticks)> Processes, long MachineTicks);
}
