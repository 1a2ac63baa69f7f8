using System.Text.RegularExpressions;
using Fleet.Cli;
using Spectre.Console.Testing;

namespace Fleet.Tests.Cli;

/// <summary>What one in-process run of <c>fleet-orleans</c> left: its exit code, its console and its error lines.</summary>
public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}; output:\n{Output}\nerror:\n{Error}";
}

/// <summary>Runs the tool's command tree in-process against a test console, a fixed environment and a chosen handler.</summary>
internal static class CliRun
{
    /// <summary>A base URL for runs whose handler is the in-memory Api (the handler ignores the host).</summary>
    public const string InMemoryUrl = "http://fleet.test";

    public static async Task<CliResult> RunAsync(
        string[] args,
        HttpMessageHandler? handler = null,
        IReadOnlyDictionary<string, string>? environment = null,
        Action<TestConsole>? configure = null,
        CancellationToken? interrupted = null)
    {
        var console = new TestConsole().Width(220);
        configure?.Invoke(console);
        using var error = new StringWriter();
        var context = new CliContext(console, error, name => environment?.GetValueOrDefault(name))
        {
            Handler = handler,
            PollInterval = TimeSpan.FromMilliseconds(100),
            ProgressLineInterval = TimeSpan.Zero,
            RequestTimeout = TimeSpan.FromSeconds(20),
            Interrupted = interrupted ?? CancellationToken.None,
        };

        var exit = await FleetCli.RunAsync(args, context).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        return new CliResult(exit, console.Output, error.ToString());
    }

    /// <summary>The output's non-empty lines, trimmed.</summary>
    public static string[] Lines(string output) =>
        [.. output.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)];

    /// <summary>A line of a grid or borderless table with each run of spaces between cells as " | ".</summary>
    public static string Cells(string line) => Regex.Replace(line.Trim(), " {2,}", " | ");
}
