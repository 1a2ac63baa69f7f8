using Spectre.Console;

namespace Fleet.Cli;

/// <summary>
/// What a command needs from the world outside its arguments: the console, the environment, the HTTP
/// stack and the operator's Ctrl+C. <see cref="Program"/> fills it from the process; tests fill it with
/// a test console, a fixed environment and an in-memory handler.
/// </summary>
public sealed class CliContext
{
    /// <summary>How often a non-interactive wait prints a progress line unless told otherwise.</summary>
    public static readonly TimeSpan DefaultProgressLineInterval = TimeSpan.FromSeconds(5);

    public CliContext(IAnsiConsole console, TextWriter error, Func<string, string?> environment)
    {
        Console = console;
        Error = error;
        Environment = environment;
    }

    /// <summary>Tables, progress and prompts; JSON goes to its writer unwrapped.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Where "error: …" lines go (standard error for the real tool).</summary>
    public TextWriter Error { get; }

    /// <summary>Reads an environment variable; null when unset.</summary>
    public Func<string, string?> Environment { get; }

    /// <summary>The handler every request goes through; null for the default sockets handler.</summary>
    public HttpMessageHandler? Handler { get; init; }

    /// <summary>How long one request may take before the tool gives up on the API.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a wait polls GET (of a host, or of a job whose event stream dropped).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a wait without a live progress bar prints a line.</summary>
    public TimeSpan ProgressLineInterval { get; init; } = DefaultProgressLineInterval;

    /// <summary>Cancelled by the operator's first Ctrl+C; a wait then asks whether to cancel or detach.</summary>
    public CancellationToken Interrupted { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
