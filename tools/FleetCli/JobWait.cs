using Spectre.Console;

namespace Fleet.Cli;

/// <summary>
/// Waits for a refetch job with a live progress bar (or a line every few seconds when the output is
/// not a terminal), ends with a table of outcomes, and on Ctrl+C asks whether to cancel or detach.
/// </summary>
public sealed class JobWait(FleetApi api, CliContext context)
{
    public async Task<int> RunAsync(JobJson job, bool noProgress)
    {
        var console = context.Console;
        var follower = new JobFollower(api, context);
        var live = !noProgress && console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi;
        try
        {
            job = live
                ? await FollowWithBarAsync(follower, job)
                : await FollowWithLinesAsync(follower, job);
        }
        catch (OperationCanceledException) when (context.Interrupted.IsCancellationRequested)
        {
            return await InterruptedAsync(job.JobId);
        }

        ShowOutcome(job);

        return Outcome(job);
    }

    /// <summary>0 for a completed job without failed hosts, 1 for failed hosts or a cancelled job.</summary>
    public static int Outcome(JobJson job) =>
        job.State == "completed" && job.Failed == 0 ? ExitCodes.Success : ExitCodes.Failed;

    public void ShowOutcome(JobJson job)
    {
        var end = job.FinishedAt ?? job.UpdatedAt ?? context.Time.GetUtcNow();
        Render.Line(context.Console, $"job {job.JobId}: {job.State}");
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("outcome").AddColumn(new TableColumn("hosts").RightAligned());
        table.AddRow("verified", $"{job.Verified}");
        table.AddRow("failed", $"{job.Failed}");
        table.AddRow("superseded", $"{job.Superseded}");
        table.AddRow("unknown", $"{job.Unknown}");
        if (job.Pending + job.Verifying > 0)
        {
            table.AddRow("still pending or verifying", $"{job.Pending + job.Verifying}");
        }

        table.AddRow("requested / matched", $"{job.Requested} / {job.Matched}");
        table.AddRow("duration", Render.Duration(end - (job.StartedAt ?? job.CreatedAt)));
        context.Console.Write(table);
    }

    /// <summary>One line: where the job stands, for logs and redirected output.</summary>
    public static string Line(JobJson job) =>
        $"job {job.JobId} {job.State}: requested {job.Requested}/{job.Matched}, terminal {job.Terminal}/{job.Requested} " +
        $"(verified {job.Verified}, failed {job.Failed}, superseded {job.Superseded}), " +
        $"{Render.Number(job.RequestsPerSecond)}/s, ETA {(job.IsFinished || job.Eta is null ? "-" : Render.Time(job.Eta))}";

    private static string Eta(JobJson job, DateTimeOffset now) =>
        job.IsFinished ? "-" : job.Eta is { } eta ? Render.Duration(eta - now) : "unknown";

    private async Task<JobJson> FollowWithLinesAsync(JobFollower follower, JobJson job)
    {
        DateTimeOffset? printed = null;
        void Print(JobJson snapshot)
        {
            var now = context.Time.GetUtcNow();
            if (printed is null || now - printed >= context.ProgressLineInterval || snapshot.IsFinished)
            {
                Render.Line(context.Console, Line(snapshot) + (follower.Polling ? " (polling)" : string.Empty));
                printed = now;
            }
        }

        return await follower.FollowAsync(job, Print, context.Interrupted);
    }

    private async Task<JobJson> FollowWithBarAsync(JobFollower follower, JobJson job)
    {
        var last = job;
        await context.Console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
            .StartAsync(async progress =>
            {
                var requested = progress.AddTask("requested", maxValue: 1);
                var terminal = progress.AddTask("terminal", maxValue: 1);
                void Show(JobJson snapshot)
                {
                    var now = context.Time.GetUtcNow();
                    var source = follower.Polling ? " (polling)" : string.Empty;
                    requested.MaxValue = Math.Max(1, snapshot.Matched);
                    requested.Value = snapshot.Requested;
                    requested.Description = $"requested {snapshot.Requested}/{snapshot.Matched}";
                    terminal.MaxValue = Math.Max(1, snapshot.Requested);
                    terminal.Value = snapshot.Terminal;
                    terminal.Description =
                        $"terminal {snapshot.Terminal}/{snapshot.Requested}  {Render.Number(snapshot.RequestsPerSecond)}/s  ETA {Eta(snapshot, now)}{source}";
                    progress.Refresh();
                    last = snapshot;
                }

                last = await follower.FollowAsync(job, Show, context.Interrupted);
            });

        return last;
    }

    private async Task<int> InterruptedAsync(string jobId)
    {
        var console = context.Console;
        var cancel = console.Profile.Capabilities.Interactive
            && await console.ConfirmAsync($"Cancel job {jobId}? (no leaves it running and only stops watching)", defaultValue: false);
        if (!cancel)
        {
            Render.Line(console, $"detached; job {jobId} keeps running. Follow it with: fleet-orleans refetch-jobs status {jobId} --wait");

            return ExitCodes.Detached;
        }

        var job = await api.DeleteAsync<JobJson>($"api/v1/refetch_jobs/{jobId}");
        ShowOutcome(job);

        return Outcome(job);
    }
}
