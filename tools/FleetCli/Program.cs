using Spectre.Console;

namespace Fleet.Cli;

/// <summary>The <c>fleet-orleans</c> tool: the operator API from a terminal.</summary>
internal static class Program
{
    /// <summary>Wide enough for a host row (a UUID, hostname, serial, times) on one line in a file or a pipe.</summary>
    private const int RedirectedWidth = 240;

    public static async Task<int> Main(string[] args)
    {
        using var interrupt = new CancellationTokenSource();

        // The first Ctrl+C stops the wait and lets the command ask what to do; a second one ends the tool.
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = !interrupt.IsCancellationRequested;
            interrupt.Cancel();
        };

        // Redirected output has no width of its own; Spectre would assume 80 columns and wrap every table cell.
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = RedirectedWidth;
        }

        var context = new CliContext(console, Console.Error, Environment.GetEnvironmentVariable)
        {
            Interrupted = interrupt.Token,
        };

        return await FleetCli.RunAsync(args, context);
    }
}
