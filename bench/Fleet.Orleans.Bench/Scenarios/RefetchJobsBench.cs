using System.Diagnostics;
using System.Text.Json;

namespace Fleet.Bench.Scenarios;

/// <summary>One poll of a job: seconds since it was posted, and its numbers.</summary>
internal sealed record JobSample(double At, string State, int Requested, int Verified, int Failed, int Pending, int Verifying, double RequestsPerSecond);

/// <summary>One bulk refetch job's run.</summary>
internal sealed record JobRun(
    string Name,
    int AskedRate,
    int Matched,
    string FinalState,
    int Requested,
    int Verified,
    int Failed,
    int Superseded,
    TimeSpan LastRequestAt,
    TimeSpan AllTerminalAt,
    bool Finished,
    double ReportedRate,
    StorageCounts Writes,
    long CheckIns,
    CpuUse Cpu,
    IReadOnlyList<JobSample> Samples)
{
    /// <summary>Hosts requested per second, from the job's first poll to the poll that saw the last request.</summary>
    public double AchievedRate => Requested / Math.Max(LastRequestAt.TotalSeconds, 1e-9);

    public double WritesPerHost => (Writes.GrainState + Writes.Reminder) / (double)Math.Max(Requested, 1);

    public double IndexWritesPerHost => Writes.Index / (double)Math.Max(Requested, 1);
}

/// <summary>Scenario 7's numbers: the jobs, and Azurite's raw write rate measured just before them.</summary>
internal sealed record JobsResult(int Hosts, LoadStats RawWrites, IReadOnlyList<JobRun> Jobs, string? Problem);

/// <summary>
/// Scenario 7: bulk refetch jobs over a team of enrolled hosts whose agents answer. 32 workers check the team's
/// hosts in round-robin (a read, and the real write when queries come back) while a job runs at 200/s, then a
/// second at the highest rate a job may ask for, which the cluster cap holds back. The job is polled every second.
/// </summary>
internal static class RefetchJobsBench
{
    private const string Team = "bench-jobs";
    private const int Workers = 32;
    private const int Population = 0xA7;

    public static async Task<JobsResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var hosts = Payloads.MakeHosts(Population, 0, context.Profile.JobHosts);
        context.Log($"jobs: enrolling {hosts.Count} hosts into team {Team}");
        await context.EnrollAsync(hosts, Workers, cancellationToken);
        await ClosedLoop.RunAsync("team", Workers, TimeSpan.FromMinutes(20), hosts.Count, (i, ct) => context.Http.SetTeamAsync(hosts[(int)i].Uuid, Team, ct), cancellationToken);
        var (raw, _, _) = await RefetchCycle.RawWritesAsync(context, cancellationToken);
        context.Log($"  Azurite raw upserts: {raw.PerSecond:0}/s");

        var jobs = new List<JobRun>();
        string? problem = null;
        foreach (var (name, rate) in new[] { ("at 200/s", 200), ("at the cluster cap (asked 5,000/s)", 5_000) })
        {
            var (run, error) = await RunJobAsync(context, hosts, name, rate, cancellationToken);
            if (run is null)
            {
                problem = error;
                break;
            }

            jobs.Add(run);
        }

        return new JobsResult(hosts.Count, raw, jobs, problem);
    }

    private static async Task<(JobRun? Run, string? Problem)> RunJobAsync(
        BenchContext context, List<SimHost> hosts, string name, int rate, CancellationToken cancellationToken)
    {
        using var stopAgents = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        long checkIns = 0;
        var agents = Task.WhenAll(Enumerable.Range(0, Workers).Select(w => AnswerAsync(context, hosts, w, () => Interlocked.Increment(ref checkIns), stopAgents.Token)));
        var before = await context.Http.StorageWritesAsync(cancellationToken);
        var cpu = context.Cpu.Start();
        var body = JsonSerializer.SerializeToUtf8Bytes(new { filter = new { team_id = Team }, rate });
        var (status, answer) = await context.Http.OperatorAsync(HttpMethod.Post, "api/v1/refetch_jobs", body, cancellationToken);
        if (status != 202)
        {
            await stopAgents.CancelAsync();
            await agents;

            return (null, $"POST /api/v1/refetch_jobs answered {status}: {System.Text.Encoding.UTF8.GetString(answer)}");
        }

        var clock = Stopwatch.StartNew();
        var id = JsonDocument.Parse(answer).RootElement.GetProperty("job_id").GetString()!;
        context.Log($"jobs: job {id} {name} over team {Team}");
        var samples = new List<JobSample>();
        var limit = TimeSpan.FromSeconds(hosts.Count / 20.0) + TimeSpan.FromMinutes(5);
        JsonElement job;
        var lastRequestAt = TimeSpan.Zero;
        while (true)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            (status, answer) = await context.Http.OperatorAsync(HttpMethod.Get, "api/v1/refetch_jobs/" + id, null, cancellationToken);
            job = JsonDocument.Parse(answer).RootElement.Clone();
            var sample = new JobSample(
                clock.Elapsed.TotalSeconds, Text(job, "state"), Int(job, "requested"), Int(job, "verified"), Int(job, "failed"),
                Int(job, "pending"), Int(job, "verifying"), job.GetProperty("requests_per_second").GetDouble());
            if (samples.Count == 0 || sample.Requested > samples[^1].Requested)
            {
                lastRequestAt = clock.Elapsed;
            }

            samples.Add(sample);
            if (sample.State is "completed" or "cancelled" || clock.Elapsed > limit)
            {
                break;
            }
        }

        var finished = samples[^1].State == "completed";
        await stopAgents.CancelAsync();
        await agents;
        var used = CpuMeter.Stop(cpu);
        await context.WaitForStorageQuietAsync(TimeSpan.FromSeconds(30), cancellationToken);
        var writes = await context.Http.StorageWritesAsync(cancellationToken) - before;
        var run = new JobRun(
            name, rate, Int(job, "matched"), samples[^1].State, Int(job, "requested"), Int(job, "verified"), Int(job, "failed"), Int(job, "superseded"),
            lastRequestAt, clock.Elapsed, finished, samples.Where(s => s.State == "running").Select(s => s.RequestsPerSecond).DefaultIfEmpty(0).Max(),
            writes, checkIns, used, samples);
        context.Log($"  {run.FinalState} in {run.AllTerminalAt.TotalSeconds:0} s: {run.Requested} requested at {run.AchievedRate:0.0}/s (asked {rate}), " +
            $"{run.Verified} verified, {run.Failed} failed; {run.WritesPerHost:0.00} writes per host");

        return (run, null);
    }

    /// <summary>One worker's agents (every <see cref="Workers"/>-th host): read, and answer any queries with the real write.</summary>
    private static async Task AnswerAsync(BenchContext context, List<SimHost> hosts, int worker, Action checkedIn, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                for (var i = worker; i < hosts.Count && !stop.IsCancellationRequested; i += Workers)
                {
                    try
                    {
                        var (status, queries) = await context.Http.PostAgentAsync("api/osquery/distributed/read", hosts[i].ReadBody, stop);
                        checkedIn();
                        if (status == 200 && queries.Length > 16)
                        {
                            await context.Http.PostAgentAsync("api/osquery/distributed/write", context.Payloads.WriteBody(hosts[i]), stop);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        // The agent tries again on its next round, as osquery does.
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The job finished.
        }
    }

    private static int Int(JsonElement job, string name) => job.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : 0;

    private static string Text(JsonElement job, string name) => job.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "?";
}
