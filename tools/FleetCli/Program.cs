using Spectre.Console;

namespace Fleet.Cli;

/// <summary>The <c>fleet-orleans</c> tool: the operator API from a terminal.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        using var interrupt = new CancellationTokenSource();

        // The first Ctrl+C stops the wait and lets the command ask what to do; a second one ends the tool.
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = !interrupt.IsCancellationRequested;
            interrupt.Cancel();
        };

        var context = new CliContext(AnsiConsole.Console, Console.Error, Environment.GetEnvironmentVariable)
        {
            Interrupted = interrupt.Token,
        };

        return await FleetCli.RunAsync(args, context);
    }
}
