using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Fleet.Cli;

/// <summary>
/// <c>hosts refetch</c>: asks for one host's refetch and, with --wait, follows GET of the host until
/// that epoch is verified (exit 0) or failed (exit 1), or the timeout passes (exit 2).
/// </summary>
public sealed class HostsRefetchCommand(CliContext context) : ApiCommand<HostsRefetchCommand.Settings>(context)
{
    public sealed class Settings : HostArgumentSettings
    {
        [CommandOption("--wait")]
        [Description("Wait until the refetch is verified or failed.")]
        public bool Wait { get; init; }

        [CommandOption("--timeout <SECONDS>")]
        [Description("Give up waiting after this many seconds (default 600); exit code 2.")]
        public int Timeout { get; init; } = 600;

        public override ValidationResult Validate() =>
            Timeout < 1 ? ValidationResult.Error("--timeout must be at least 1 second") : base.Validate();
    }

    protected override async Task<int> RunAsync(FleetApi api, Settings settings)
    {
        var match = await HostLookup.FindAsync(api, settings.Host, Context.Interrupted);
        var hostId = match.HostId;
        var refetch = await api.PostAsync<RefetchJson>($"api/v1/hosts/{hostId}/refetch", body: null, Context.Interrupted);
        var name = match.Host.Details?.Hostname is { } hostname ? $"{hostId} ({hostname})" : hostId;
        Render.Line(Context.Console, $"refetch of host {name}: epoch {refetch.Epoch}, {refetch.Status}");
        if (!settings.Wait)
        {
            return ExitCodes.Success;
        }

        var deadline = Context.Time.GetUtcNow().AddSeconds(settings.Timeout);
        var seen = refetch.Status;
        while (!IsTerminal(refetch.Status))
        {
            if (Context.Time.GetUtcNow() >= deadline)
            {
                await Context.Error.WriteLineAsync(
                    $"error: host {hostId}'s refetch (epoch {refetch.Epoch}) is still {refetch.Status} after {settings.Timeout} s");

                return ExitCodes.UsageOrTimeout;
            }

            await Task.Delay(Context.PollInterval, Context.Time, Context.Interrupted);
            var host = await api.GetAsync<HostJson>($"api/v1/hosts/{hostId}", Context.Interrupted);
            if (host.Refetch is not { } now || now.Epoch != refetch.Epoch)
            {
                throw new CliException($"host {hostId} started refetch epoch {host.Refetch?.Epoch} before epoch {refetch.Epoch} was seen to end");
            }

            refetch = now;
            if (refetch.Status != seen)
            {
                Render.Line(Context.Console, $"{Render.Time(Context.Time.GetUtcNow())} {refetch.Status}");
                seen = refetch.Status;
            }
        }

        return Report(hostId, refetch);
    }

    private int Report(string hostId, RefetchJson refetch)
    {
        if (refetch.Status == "verified")
        {
            Render.Line(Context.Console, $"verified: host {hostId}, epoch {refetch.Epoch}, at {Render.Time(refetch.CompletedAt)}");

            return ExitCodes.Success;
        }

        Render.Line(Context.Console, $"failed: host {hostId}, epoch {refetch.Epoch}: {Render.Reason(refetch.Reason)}");

        return ExitCodes.Failed;
    }

    private static bool IsTerminal(string status) => status is "verified" or "failed";
}
