using Spectre.Console.Cli;

namespace Fleet.Cli;

/// <summary>The command tree of <c>fleet-orleans</c>, runnable in-process with any <see cref="CliContext"/>.</summary>
public static class FleetCli
{
    public const string Name = "fleet-orleans";

    public static Task<int> RunAsync(IEnumerable<string> args, CliContext context)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName(Name);
            config.ConfigureConsole(context.Console);
            config.Settings.Registrar.RegisterInstance(context);
            config.SetExceptionHandler((e, _) =>
            {
                // Only bad arguments get here: commands turn API and network failures into exit codes.
                context.Error.WriteLine($"error: {e.Message}");

                return ExitCodes.UsageOrTimeout;
            });
            config.AddBranch("hosts", hosts =>
            {
                hosts.SetDescription("List, show and refetch hosts.");
                hosts.AddCommand<HostsListCommand>("list")
                    .WithDescription("List hosts from the host index, with filters.")
                    .WithExample("hosts", "list", "--platform", "darwin", "--os-version", "15", "--status", "pending");
                hosts.AddCommand<HostsShowCommand>("show")
                    .WithDescription("Show one host, found by hardware UUID, serial number or hostname.");
                hosts.AddCommand<HostsRefetchCommand>("refetch")
                    .WithDescription("Refetch one host; with --wait, until it is verified (exit 0) or failed (exit 1).")
                    .WithExample("hosts", "refetch", "C02XK1ZZJGH5", "--wait");
            });
            config.AddBranch("refetch-jobs", jobs =>
            {
                jobs.SetDescription("Paced bulk refetches of many hosts.");
                jobs.AddCommand<RefetchJobsStartCommand>("start")
                    .WithDescription("Start a bulk refetch of the hosts a filter matches, or of --host-id hosts.")
                    .WithExample("refetch-jobs", "start", "--platform", "darwin", "--os-version", "15", "--rate", "200", "--wait");
                jobs.AddCommand<RefetchJobsStatusCommand>("status")
                    .WithDescription("Show a job's progress; with --wait, follow it to the end.");
                jobs.AddCommand<RefetchJobsCancelCommand>("cancel")
                    .WithDescription("Cancel a job: no more refetches are requested.");
            });
        });

        // Commands watch context.Interrupted themselves, to ask whether Ctrl+C cancels a job or only detaches.
        return app.RunAsync(args, CancellationToken.None);
    }
}
