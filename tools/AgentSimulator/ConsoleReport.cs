using System.Diagnostics;
using System.Globalization;

namespace Fleet.AgentSimulator;

/// <summary>What the simulator prints: the host table, then status lines, then totals.</summary>
internal static class ConsoleReport
{
    public static string Stamp(Stopwatch clock) =>
        string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed:hh\\:mm\\:ss}]");

    public static void PrintStart(SimulatorOptions options, IReadOnlyList<SimulatedAgent> agents)
    {
        var duration = options.Duration is { } time ? $"{time.TotalSeconds:0.#} s" : "until Ctrl-C";
        var interval = options.Interval.TotalSeconds;
        Console.WriteLine(
            $"Simulating {agents.Count} osquery hosts against {options.Api} every {interval:0.#} s, {duration}, " +
            $"seed {options.Seed}, concurrency {options.Concurrency}.");
        Console.WriteLine();
        Console.WriteLine($"{"#",6}  {"host id",-36}  {"profile",-8}  {"hostname",-17}  {"serial",-12}  fault");
        for (var i = 0; i < agents.Count; i++)
        {
            var (agent, host) = (agents[i], agents[i].Identity);
            Console.WriteLine(
                $"{i + 1,6}  {host.Uuid,-36}  {agent.Profile.Name,-8}  {host.Hostname,-17}  {host.Serial,-12}  " +
                $"{agent.Fault}");
        }

        Console.WriteLine();
    }

    public static void PrintStatus(Stopwatch clock, IReadOnlyList<SimulatedAgent> agents, ErrorLog errors)
    {
        var suppressed = errors.TakeSuppressed();
        var note = suppressed > 0 ? $" ({suppressed} error lines not shown)" : "";
        Console.WriteLine($"{Stamp(clock)} {Counters(agents, errors)}{note}");
    }

    public static void PrintTotals(Stopwatch clock, IReadOnlyList<SimulatedAgent> agents, ErrorLog errors)
    {
        Console.WriteLine();
        Console.WriteLine($"Stopped after {clock.Elapsed.TotalSeconds:0.0} s. Totals: {Counters(agents, errors)}");
    }

    private static string Counters(IReadOnlyList<SimulatedAgent> agents, ErrorLog errors) =>
        $"enrolled {agents.Count(agent => agent.IsEnrolled)}/{agents.Count}, " +
        $"reads {agents.Sum(agent => (long)agent.Reads)}, " +
        $"writes {agents.Sum(agent => (long)agent.Writes)}, " +
        $"queries answered {agents.Sum(agent => (long)agent.QueriesAnswered)}, " +
        $"errors {errors.Total}, " +
        $"re-enrolls {agents.Sum(agent => (long)agent.ReEnrolls)}";
}
