using System.Diagnostics;
using System.Runtime.InteropServices;
using Fleet.AgentSimulator;

var parsed = OptionsParser.Parse(args, Environment.GetEnvironmentVariable);
if (parsed.ShowHelp)
{
    Console.WriteLine(SimulatorOptions.Usage);

    return 0;
}

if (parsed.Options is null)
{
    Console.Error.WriteLine($"error: {parsed.Error}. See --help.");

    return 2;
}

var options = parsed.Options;
using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency };
using var http = new HttpClient(handler) { Timeout = SimulatorOptions.RequestTimeout };
var agents = HostPlan.CreateAgents(options, http);
ConsoleReport.PrintStart(options, agents);

using var stopping = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
if (options.Duration is { } duration)
{
    stopping.CancelAfter(duration);
}

var clock = Stopwatch.StartNew();
var errors = new ErrorLog(clock);
var scheduler = new AgentScheduler(options, errors);
var running = agents.Select((agent, index) => scheduler.RunAsync(agent, index + 1, stopping.Token)).ToList();
await PrintStatusUntilStoppedAsync();
await Task.WhenAll(running);
ConsoleReport.PrintTotals(clock, agents, errors);

return 0;

void Stop(PosixSignalContext context)
{
    // The first signal stops the agents cleanly and prints the totals; a second one ends the process at once.
    context.Cancel = !stopping.IsCancellationRequested;
    stopping.Cancel();
}

async Task PrintStatusUntilStoppedAsync()
{
    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(10));
    try
    {
        while (await timer.WaitForNextTickAsync(stopping.Token))
        {
            ConsoleReport.PrintStatus(clock, agents, errors);
        }
    }
    catch (OperationCanceledException)
    {
        // Stopping: Ctrl-C or the end of --duration.
    }
}
