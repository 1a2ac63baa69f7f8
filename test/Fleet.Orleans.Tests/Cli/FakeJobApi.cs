using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Fleet.Tests.Cli;

/// <summary>One request the fake job API got.</summary>
public sealed record FakeJobRequest(string Method, string Path, string? Authorization, string Body);

/// <summary>How the fake's event stream behaves after it sends its progress events.</summary>
public enum StreamEnding
{
    /// <summary>Sends <c>event: done</c> with the last snapshot and ends.</summary>
    Done,

    /// <summary>Ends without <c>done</c>, as when the Api or a proxy drops the connection.</summary>
    Drop,

    /// <summary>Stays open and silent until the client goes away.</summary>
    Hang,
}

/// <summary>
/// The bulk refetch job endpoints as the operator API documents them, served on 127.0.0.1 (a port the
/// system picks) from a script: POST answers the first snapshot, the event stream sends the progress
/// snapshots, and GET walks through <see cref="PollSnapshots"/>. It also answers the identifier lookup
/// with <see cref="Identifier"/>. Only <see cref="Token"/> is accepted.
/// </summary>
public sealed class FakeJobApi : IAsyncDisposable
{
    public const string Token = "fake-job-api-token-0123456789";
    public const string JobId = "0193a1b2c3d4e5f60718293a4b5c6d7e";

    private readonly WebApplication _app;
    private readonly List<FakeJobRequest> _requests = [];
    private readonly TaskCompletionSource _firstEventSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _polls;

    private FakeJobApi(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    /// <summary>Sent one by one as <c>event: progress</c>; the last also as <c>done</c> when the stream ends so.</summary>
    public IReadOnlyList<JsonObject> StreamSnapshots { get; init; } = [];

    public StreamEnding Ending { get; init; } = StreamEnding.Done;

    /// <summary>GET answers these in turn, repeating the last.</summary>
    public IReadOnlyList<JsonObject> PollSnapshots { get; init; } = [];

    /// <summary>The answer to <c>GET /api/v1/hosts/identifier/{value}</c> (whose job endpoint is also still to land).</summary>
    public JsonObject? Identifier { get; init; }

    /// <summary>A problem+json 400 for POST, when set.</summary>
    public string? RefuseWith { get; init; }

    /// <summary>Completes once the first progress event has been flushed to a client.</summary>
    public Task FirstEventSent => _firstEventSent.Task;

    public IReadOnlyList<FakeJobRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    private static async Task<FakeJobApi> StartAsync(Func<WebApplication, FakeJobApi> create)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var fake = create(builder.Build());
        fake._app.Run(fake.HandleAsync);
        await fake._app.StartAsync();
        fake.Url = new Uri(fake._app.Urls.Single());

        return fake;
    }

    public static Task<FakeJobApi> StartAsync(JsonObject identifier) =>
        StartAsync(app => new FakeJobApi(app) { Identifier = identifier });

    public static Task<FakeJobApi> StartAsync(
        IReadOnlyList<JsonObject> stream, StreamEnding ending = StreamEnding.Done, IReadOnlyList<JsonObject>? polls = null, string? refuseWith = null) =>
        StartAsync(app => new FakeJobApi(app)
        {
            StreamSnapshots = stream,
            Ending = ending,
            PollSnapshots = polls ?? [],
            RefuseWith = refuseWith,
        });

    /// <summary>A job snapshot in the API's shape, started 2026-12-01 09:00 UTC and finished 42 s later.</summary>
    public static JsonObject Job(string state, int matched, int requested, int pending, int verifying, int verified, int failed, double rate = 200)
    {
        var created = new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
        var finished = state is "completed" or "cancelled";

        return new JsonObject
        {
            ["job_id"] = JobId,
            ["state"] = state,
            ["rate"] = 200,
            ["filter"] = new JsonObject { ["platform"] = "darwin", ["os_version"] = "15" },
            ["host_ids"] = null,
            ["created_at"] = created,
            ["started_at"] = created,
            ["finished_at"] = finished ? created.AddSeconds(42) : null,
            ["updated_at"] = created.AddSeconds(finished ? 42 : 10),
            ["matched"] = matched,
            ["requested"] = requested,
            ["pending"] = pending,
            ["verifying"] = verifying,
            ["verified"] = verified,
            ["failed"] = failed,
            ["superseded"] = 0,
            ["unknown"] = 0,
            ["requests_per_second"] = rate,
            ["eta"] = finished ? null : created.AddSeconds(70),
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext http)
    {
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync(http.RequestAborted);
        var request = new FakeJobRequest(http.Request.Method, http.Request.Path + http.Request.QueryString, http.Request.Headers.Authorization, body);
        lock (_requests)
        {
            _requests.Add(request);
        }

        if (request.Authorization != $"Bearer {Token}")
        {
            await ProblemAsync(http, 401, "Unauthorized", "Send a valid operator token as 'Authorization: Bearer <token>'.");
            return;
        }

        var jobPath = $"/api/v1/refetch_jobs/{JobId}";
        switch (request.Method, http.Request.Path.Value)
        {
            case ("POST", "/api/v1/refetch_jobs") when RefuseWith is not null:
                await ProblemAsync(http, 400, "Invalid request", RefuseWith);
                break;
            case ("POST", "/api/v1/refetch_jobs"):
                http.Response.StatusCode = 202;
                http.Response.Headers.Location = jobPath;
                await http.Response.WriteAsJsonAsync(StreamSnapshots[0], http.RequestAborted);
                break;
            case ("GET", var path) when Identifier is not null && path!.StartsWith("/api/v1/hosts/identifier/", StringComparison.Ordinal):
                await http.Response.WriteAsJsonAsync(Identifier, http.RequestAborted);
                break;
            case ("GET", var path) when path == jobPath + "/events":
                await StreamAsync(http);
                break;
            case ("GET", var path) when path == jobPath:
                var turn = Interlocked.Increment(ref _polls) - 1;
                await http.Response.WriteAsJsonAsync(PollSnapshots[Math.Min(turn, PollSnapshots.Count - 1)], http.RequestAborted);
                break;
            case ("DELETE", var path) when path == jobPath:
                var cancelled = (JsonObject)StreamSnapshots[^1].DeepClone();
                cancelled["state"] = "cancelled";
                await http.Response.WriteAsJsonAsync(cancelled, http.RequestAborted);
                break;
            default:
                await ProblemAsync(http, 404, "Unknown job", $"No refetch job at {request.Path}.");
                break;
        }
    }

    private async Task StreamAsync(HttpContext http)
    {
        http.Response.ContentType = "text/event-stream";
        foreach (var snapshot in StreamSnapshots)
        {
            await WriteEventAsync(http, "progress", snapshot);
            _firstEventSent.TrySetResult();
        }

        switch (Ending)
        {
            case StreamEnding.Done:
                await WriteEventAsync(http, "done", StreamSnapshots[^1]);
                break;
            case StreamEnding.Hang:
                await http.Response.WriteAsync(": keep-alive\n\n", http.RequestAborted);
                try
                {
                    await Task.Delay(Timeout.Infinite, http.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The client went away, as the test meant it to.
                }

                break;
        }
    }

    private static async Task WriteEventAsync(HttpContext http, string name, JsonObject job)
    {
        await http.Response.WriteAsync($"event: {name}\ndata: {job.ToJsonString()}\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    private static Task ProblemAsync(HttpContext http, int status, string title, string detail)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/problem+json";

        return http.Response.WriteAsync(JsonSerializer.Serialize(new { title, status, detail }), http.RequestAborted);
    }
}
