using System.Text.Json;

namespace Fleet.Cli;

/// <summary>
/// Follows a refetch job to its end: its Server-Sent Events stream while that lasts, then GET once per
/// poll interval. Every snapshot goes to the caller's callback.
/// </summary>
public sealed class JobFollower(FleetApi api, CliContext context)
{
    /// <summary>The API sends a keep-alive every 15 s; this much silence means the stream is gone.</summary>
    public static readonly TimeSpan StreamSilence = TimeSpan.FromSeconds(45);

    /// <summary>Polls in a row that may fail (a restarting silo, say) before the wait gives up.</summary>
    public const int PollFailuresAllowed = 10;

    /// <summary>True once the stream dropped and the follower polls instead.</summary>
    public bool Polling { get; private set; }

    /// <summary>Snapshots until the job is completed or cancelled; returns the last one.</summary>
    public async Task<JobJson> FollowAsync(JobJson job, Action<JobJson> update, CancellationToken cancellation)
    {
        update(job);
        if (job.IsFinished)
        {
            return job;
        }

        try
        {
            job = await StreamAsync(job, update, cancellation);
        }
        catch (Exception e) when (e is CliException or IOException or HttpRequestException or JsonException && !cancellation.IsCancellationRequested)
        {
            // The stream is an optimisation; polling below reaches the same end.
        }

        Polling = !job.IsFinished;

        return job.IsFinished ? job : await PollAsync(job, update, cancellation);
    }

    private async Task<JobJson> StreamAsync(JobJson job, Action<JobJson> update, CancellationToken cancellation)
    {
        using var response = await api.OpenStreamAsync($"api/v1/refetch_jobs/{job.JobId}/events", cancellation);
        await using var body = await response.Content.ReadAsStreamAsync(cancellation);
        using var reader = new StreamReader(body);
        string? eventName = null;
        var data = new List<string>();
        while (await ReadLineAsync(reader, cancellation) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Count > 0 && eventName is "progress" or "done")
                {
                    job = JsonSerializer.Deserialize<JobJson>(string.Join('\n', data), FleetApi.Json) ?? job;
                    update(job);
                    if (eventName == "done" || job.IsFinished)
                    {
                        return job;
                    }
                }

                (eventName, data) = (null, []);
            }
            else if (line.StartsWith("event:", StringComparison.Ordinal))
            {
                eventName = line[6..].Trim();
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                data.Add(line[5..].TrimStart());
            }
        }

        return job;
    }

    private static async Task<string?> ReadLineAsync(StreamReader reader, CancellationToken cancellation)
    {
        using var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        silence.CancelAfter(StreamSilence);
        try
        {
            return await reader.ReadLineAsync(silence.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task<JobJson> PollAsync(JobJson job, Action<JobJson> update, CancellationToken cancellation)
    {
        var failures = 0;
        while (!job.IsFinished)
        {
            await Task.Delay(context.PollInterval, context.Time, cancellation);
            try
            {
                job = await api.GetAsync<JobJson>($"api/v1/refetch_jobs/{job.JobId}", cancellation);
                failures = 0;
            }
            catch (CliException e) when (e is not ApiProblemException { Status: 400 or 401 or 403 or 404 } && ++failures < PollFailuresAllowed)
            {
                continue;
            }

            update(job);
        }

        return job;
    }
}
