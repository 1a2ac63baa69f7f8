using Spectre.Console.Cli;

namespace Fleet.Cli;

/// <summary>
/// A command that talks to the API: it gets the client, and every <see cref="CliException"/> becomes
/// one "error: …" line and an exit code instead of a stack trace.
/// </summary>
public abstract class ApiCommand<TSettings>(CliContext cli) : AsyncCommand<TSettings>
    where TSettings : ApiSettings
{
    protected CliContext Context { get; } = cli;

    public override async Task<int> ExecuteAsync(CommandContext context, TSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            using var api = FleetApi.Create(settings, Context);

            return await RunAsync(api, settings);
        }
        catch (CliException e)
        {
            await Context.Error.WriteLineAsync($"error: {e.Message}");

            return e.ExitCode;
        }
        catch (OperationCanceledException) when (Context.Interrupted.IsCancellationRequested)
        {
            await Context.Error.WriteLineAsync("interrupted");

            return ExitCodes.Detached;
        }
    }

    protected abstract Task<int> RunAsync(FleetApi api, TSettings settings);
}
