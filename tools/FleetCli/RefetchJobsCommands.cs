using System.ComponentModel;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Fleet.Cli;

/// <summary>The options every job command that can wait shares.</summary>
public class JobWaitSettings : HostFilterSettings
{
    [CommandOption("--wait")]
    [Description("Follow the job with a progress bar until it completes or is cancelled; end with a table of outcomes.")]
    public bool Wait { get; init; }

    [CommandOption("--json")]
    [Description("Print the job's JSON instead of a table (without --wait).")]
    public bool Json { get; init; }
}

/// <summary><c>refetch-jobs start</c>: a bulk refetch of the hosts a filter matches, or of explicit hosts.</summary>
public sealed class RefetchJobsStartCommand(CliContext context) : ApiCommand<RefetchJobsStartCommand.Settings>(context)
{
    public const int MaxHostIds = 1000;

    public sealed class Settings : JobWaitSettings
    {
        [CommandOption("--host-id <UUID>")]
        [Description("Refetch this host (repeatable, up to 1000) instead of a filter.")]
        public string[] HostIds { get; init; } = [];

        [CommandOption("--rate <PER_SECOND>")]
        [Description("Refetch requests per second, 1 to 5000 (default: the API's, Fleet:RefetchJobs:DefaultRate).")]
        public int? Rate { get; init; }

        public override ValidationResult Validate()
        {
            if (HostIds.Length > 0 && HasFilter)
            {
                return ValidationResult.Error("give --host-id or filters, not both");
            }

            if (HostIds.Length > MaxHostIds)
            {
                return ValidationResult.Error($"at most {MaxHostIds} --host-id values");
            }

            return Rate is < 1 or > 5000 ? ValidationResult.Error("--rate must be between 1 and 5000") : base.Validate();
        }
    }

    protected override async Task<int> RunAsync(FleetApi api, Settings settings)
    {
        var request = settings.HostIds.Length > 0
            ? new JobRequestJson(null, settings.HostIds.Distinct(StringComparer.OrdinalIgnoreCase).ToList(), settings.Rate)
            : new JobRequestJson(settings.ToFilter(), null, settings.Rate);
        var job = await api.PostAsync<JobJson>("api/v1/refetch_jobs", request, Context.Interrupted);

        return await JobOutput.ShowAsync(api, Context, job, settings, $"started job {job.JobId}");
    }
}

/// <summary>The job argument of <c>refetch-jobs status</c> and <c>cancel</c>.</summary>
public class JobArgumentSettings : JobWaitSettings
{
    [CommandArgument(0, "<JOB_ID>")]
    [Description("The job id (32 hex digits) that start printed.")]
    public string JobId { get; init; } = "";

    public override ValidationResult Validate() =>
        Guid.TryParse(JobId, out _) ? base.Validate() : ValidationResult.Error($"'{JobId}' is not a job id (32 hex digits)");

    public string NormalizedJobId => Guid.Parse(JobId).ToString("N");
}

/// <summary><c>refetch-jobs status</c>: where a job stands, or with --wait its progress to the end.</summary>
public sealed class RefetchJobsStatusCommand(CliContext context) : ApiCommand<JobArgumentSettings>(context)
{
    protected override async Task<int> RunAsync(FleetApi api, JobArgumentSettings settings)
    {
        var job = await api.GetAsync<JobJson>($"api/v1/refetch_jobs/{settings.NormalizedJobId}", Context.Interrupted);

        return await JobOutput.ShowAsync(api, Context, job, settings, heading: null);
    }
}

/// <summary><c>refetch-jobs cancel</c>: stops requesting refetches; hosts already asked finish on their own.</summary>
public sealed class RefetchJobsCancelCommand(CliContext context) : ApiCommand<JobArgumentSettings>(context)
{
    protected override async Task<int> RunAsync(FleetApi api, JobArgumentSettings settings)
    {
        var job = await api.DeleteAsync<JobJson>($"api/v1/refetch_jobs/{settings.NormalizedJobId}", Context.Interrupted);
        if (settings.Json)
        {
            Render.Line(Context.Console, JsonSerializer.Serialize(job, FleetApi.Json));
        }
        else
        {
            new JobWait(api, Context).ShowOutcome(job);
        }

        return ExitCodes.Success;
    }
}

/// <summary>How start and status show a job: JSON, a table, or a wait to its end.</summary>
internal static class JobOutput
{
    public static async Task<int> ShowAsync(FleetApi api, CliContext context, JobJson job, JobWaitSettings settings, string? heading)
    {
        if (settings.Json && !settings.Wait)
        {
            Render.Line(context.Console, JsonSerializer.Serialize(job, FleetApi.Json));

            return ExitCodes.Success;
        }

        if (heading is not null)
        {
            Render.Line(context.Console, $"{heading} at {Render.Number(job.Rate)} refetches/s");
        }

        var wait = new JobWait(api, context);
        if (settings.Wait)
        {
            return await wait.RunAsync(job, settings.NoProgress);
        }

        Render.Line(context.Console, JobWait.Line(job));
        if (job.IsFinished)
        {
            wait.ShowOutcome(job);
        }

        return ExitCodes.Success;
    }
}
