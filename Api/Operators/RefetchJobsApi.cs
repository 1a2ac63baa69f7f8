using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fleet.Api.Documentation;
using Fleet.Api.Hosting;
using Fleet.Api.Security;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using HttpJsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace Fleet.Api.Operators;

/// <summary>
/// Operator endpoints for bulk refetch jobs: start one over a filter or a list of host ids, read it, follow it
/// live, cancel it. The job grain paces the requests; these handlers check the input and shape the JSON.
/// </summary>
public static partial class RefetchJobsApi
{
    public const string ProgressEventType = "progress";
    public const string DoneEventType = "done";

    /// <summary>How often a stream reads the job, and how long a quiet stream waits before a keep-alive comment.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(15);

    private static readonly byte[] s_keepAlive = ": keep-alive\n\n"u8.ToArray();

    private static readonly HashSet<string> s_filterFields = new(StringComparer.Ordinal)
    {
        "status", "platform", "os_version", "team_id", "os_settings", "last_seen_before", "certificate_expires_within_days",
    };

    public static RouteGroupBuilder MapRefetchJobsApi(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/api/v1/refetch_jobs")
            .RequireAuthorization(OperatorRoles.CanRead)
            .WithTags("Refetch jobs")
            .AsOperatorApi();

        jobs.MapPost("/", StartAsync)
            .RefusesInvalidJsonText()
            .RequireAuthorization(OperatorRoles.CanChange)
            .WithSummary("Start a bulk refetch")
            .WithDescription(
                "Refetches every host a filter matches (`filter`, the host list's fields; `{}` is every host) or the hosts " +
                "listed (`host_ids`, 1 to 1000), exactly one of the two, at `rate` requests a second (default from the " +
                "silo's settings). All running jobs together stay under the cluster's cap. Each host is requested once; " +
                "follow the job at the `Location` returned.")
            .Accepts<RefetchJobRequest>("application/json")
            .ProducesValidationProblem();
        jobs.MapGet("/{job_id}", GetAsync)
            .WithSummary("Get a bulk refetch")
            .WithDescription(
                "The job's progress. `requested` = `pending` + `verifying` + `verified` + `failed` + `superseded` (hosts a " +
                "newer refetch took over); `unknown` counts listed ids no agent enrolled as. It is completed once every " +
                "host was reached and none is pending or verifying.")
            .ProducesInvalidOrUnknown();
        jobs.MapDelete("/{job_id}", CancelAsync)
            .RequireAuthorization(OperatorRoles.CanChange)
            .WithSummary("Cancel a bulk refetch")
            .WithDescription(
                "Stops further requests; refetches already requested run to their end. A finished job is returned unchanged.")
            .ProducesInvalidOrUnknown();
        jobs.MapGet("/{job_id}/events", Events)
            .WithSummary("Follow a bulk refetch live")
            .WithDescription(
                "Server-sent events: `progress` with the job at once and whenever its numbers change (read about every " +
                "second), a keep-alive comment every 15 s, and `done` with the job once it is completed or cancelled, " +
                "after which the stream ends.")
            .Produces<RefetchJobResponse>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesInvalidOrUnknown();

        return jobs;
    }

    private static async Task<Results<Accepted<RefetchJobResponse>, ProblemHttpResult>> StartAsync(
        JsonElement? body, IGrainFactory grains, TimeProvider time, ILoggerFactory loggers)
    {
        var now = time.GetUtcNow();
        var reader = new SpecReader(now);
        if (reader.Read(body ?? default) is not { } spec)
        {
            return TypedResults.Problem(reader.Problem!);
        }

        var jobId = Guid.CreateVersion7().ToString("N");
        var result = await grains.GetGrain<IRefetchJobGrain>(jobId).StartAsync(spec);
        LogStarted(loggers.CreateLogger(typeof(RefetchJobsApi).FullName!), jobId, result.View.Spec.RatePerSecond, result.View.Matched);

        return TypedResults.Accepted($"/api/v1/refetch_jobs/{jobId}", RefetchJobResponse.From(result.View));
    }

    private static async Task<Results<Ok<RefetchJobResponse>, ProblemHttpResult>> GetAsync(
        [FromRoute(Name = "job_id")] string jobId, IGrainFactory grains, IdempotentCalls calls)
    {
        if (!IsJobId(jobId))
        {
            return TypedResults.Problem(InvalidJobId(jobId));
        }

        var view = await calls.RunAsync("job get", () => grains.GetGrain<IRefetchJobGrain>(jobId).GetAsync());

        return view is null ? TypedResults.Problem(UnknownJob(jobId)) : TypedResults.Ok(RefetchJobResponse.From(view));
    }

    private static async Task<Results<Ok<RefetchJobResponse>, ProblemHttpResult>> CancelAsync(
        [FromRoute(Name = "job_id")] string jobId, IGrainFactory grains)
    {
        if (!IsJobId(jobId))
        {
            return TypedResults.Problem(InvalidJobId(jobId));
        }

        var view = await grains.GetGrain<IRefetchJobGrain>(jobId).CancelAsync();

        return view is null ? TypedResults.Problem(UnknownJob(jobId)) : TypedResults.Ok(RefetchJobResponse.From(view));
    }

    private static async Task<Results<ServerSentEventsResult<string>, ProblemHttpResult>> Events(
        [FromRoute(Name = "job_id")] string jobId,
        HttpContext context,
        IGrainFactory grains,
        IOptions<HttpJsonOptions> json,
        TimeProvider time)
    {
        if (!IsJobId(jobId))
        {
            return TypedResults.Problem(InvalidJobId(jobId));
        }

        var job = grains.GetGrain<IRefetchJobGrain>(jobId);
        if (await job.GetAsync() is not { } first)
        {
            return TypedResults.Problem(UnknownJob(jobId));
        }

        context.Response.Headers.CacheControl = "no-cache, no-store";
        var stream = Follow(job, first, context.Response, json.Value.SerializerOptions, time, context.RequestAborted);

        return TypedResults.ServerSentEvents(stream);
    }

    private static async IAsyncEnumerable<SseItem<string>> Follow(
        IRefetchJobGrain job,
        RefetchJobView first,
        HttpResponse response,
        JsonSerializerOptions json,
        TimeProvider time,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        var sent = RefetchJobResponse.From(first);
        yield return new SseItem<string>(JsonSerializer.Serialize(sent, json), ProgressEventType);

        var quietSince = time.GetUtcNow();
        while (!sent.Finished)
        {
            await Task.Delay(PollInterval, time, cancellation);
            var next = RefetchJobResponse.From((await job.GetAsync())!);
            if (next.Finished)
            {
                sent = next;
                break;
            }

            if (!next.SameNumbers(sent))
            {
                sent = next;
                quietSince = time.GetUtcNow();
                yield return new SseItem<string>(JsonSerializer.Serialize(next, json), ProgressEventType);
            }
            else if (time.GetUtcNow() - quietSince >= KeepAliveInterval)
            {
                // The formatter writes only between the items yielded, so the response is free for a comment here.
                await response.Body.WriteAsync(s_keepAlive, cancellation);
                await response.Body.FlushAsync(cancellation);
                quietSince = time.GetUtcNow();
            }
        }

        yield return new SseItem<string>(JsonSerializer.Serialize(sent, json), DoneEventType);
    }

    /// <summary>
    /// Reads a start request's body itself, so that each mistake gets a 400 naming the field; the first mistake
    /// found is kept in <see cref="Problem"/>.
    /// </summary>
    internal sealed class SpecReader(DateTimeOffset now)
    {
        public ProblemDetails? Problem { get; private set; }

        /// <summary>The job's spec, or null with <see cref="Problem"/> set to the 400 to answer.</summary>
        public RefetchJobSpec? Read(JsonElement body)
        {
            if (body.ValueKind != JsonValueKind.Object)
            {
                return Fail("body", "must be a JSON object with `filter` or `host_ids`.");
            }

            // A misspelt field (say "rates") must not start a job at the default rate unnoticed.
            var unknown = body.EnumerateObject().FirstOrDefault(f => f.Name is not ("filter" or "host_ids" or "rate"));
            if (unknown.Value.ValueKind != JsonValueKind.Undefined)
            {
                return Fail("body", $"has no field '{Truncate(unknown.Name)}'; use filter, host_ids and rate.");
            }

            var hasFilter = body.TryGetProperty("filter", out var filter) && filter.ValueKind != JsonValueKind.Null;
            var hasIds = body.TryGetProperty("host_ids", out var ids) && ids.ValueKind != JsonValueKind.Null;
            if (hasFilter == hasIds)
            {
                return Fail("filter", "or host_ids is required, and not both.");
            }

            var rate = 0;
            if (body.TryGetProperty("rate", out var rateValue) && rateValue.ValueKind != JsonValueKind.Null
                && (rateValue.ValueKind != JsonValueKind.Number || !rateValue.TryGetInt32(out rate) || rate is < 1 or > RefetchJobs.MaxRatePerSecond))
            {
                return Fail("rate", $"must be a whole number of requests a second from 1 to {RefetchJobs.MaxRatePerSecond}.");
            }

            if (hasIds)
            {
                return ParseHostIds(ids) is { } hostIds ? new RefetchJobSpec(null, hostIds, rate, now) : null;
            }

            return ParseFilter(filter) is { } query ? new RefetchJobSpec(query, null, rate, now) : null;
        }

        private List<string>? ParseHostIds(JsonElement ids)
        {
            const string Limits = "must be an array of 1 to 1000 hardware UUIDs.";
            if (ids.ValueKind != JsonValueKind.Array || ids.GetArrayLength() is 0 or > RefetchJobs.MaxExplicitHosts)
            {
                return Fail<List<string>>("host_ids", Limits);
            }

            var canonical = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var id in ids.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.String || !HostIds.TryNormalize(id.GetString()!, out var normal))
                {
                    return Fail<List<string>>("host_ids", $"{Limits} '{Truncate(id.ToString())}' is not one.");
                }

                canonical.Add(normal);
            }

            return [.. canonical];
        }

        private HostQuery? ParseFilter(JsonElement filter)
        {
            if (filter.ValueKind != JsonValueKind.Object)
            {
                return Fail<HostQuery>("filter", "must be an object; {} matches every host.");
            }

            foreach (var field in filter.EnumerateObject())
            {
                if (!s_filterFields.Contains(field.Name))
                {
                    return Fail<HostQuery>("filter", $"has no field '{Truncate(field.Name)}'; use {string.Join(", ", s_filterFields)}.");
                }
            }

            var query = new HostQuery(null, null, null, 0);
            if (Text(filter, "status") is { } status)
            {
                if (!StatusWords.TryParse(status, out var parsed))
                {
                    return Fail<HostQuery>("filter.status", $"'{Truncate(status)}' is not one of {StatusWords.All}.");
                }

                query = query with { Status = parsed };
            }

            if (Text(filter, "platform") is { } platform)
            {
                if (platform.Length is 0 or > 32)
                {
                    return Fail<HostQuery>("filter.platform", "must be 1 to 32 characters.");
                }

                query = query with { Platform = platform };
            }

            if (Text(filter, "os_version") is { } osVersion)
            {
                if (osVersion.Length is 0 or > HostsApi.MaxOsVersionLength || osVersion.Any(char.IsControl))
                {
                    return Fail<HostQuery>("filter.os_version", $"must be 1 to {HostsApi.MaxOsVersionLength} characters, none of them control characters.");
                }

                query = query with { OsVersion = osVersion };
            }

            if (Text(filter, "team_id") is { } teamId)
            {
                if (!TeamIds.IsValid(teamId))
                {
                    return Fail<HostQuery>("filter.team_id", $"'{Truncate(teamId)}' is not a team id (1 to {TeamIds.MaxLength} letters, digits, '-' and '_').");
                }

                query = query with { TeamId = teamId };
            }

            if (Text(filter, "os_settings") is { } osSettings)
            {
                if (!OsSettingsWords.TryParse(osSettings, out var parsed))
                {
                    return Fail<HostQuery>("filter.os_settings", $"'{Truncate(osSettings)}' is not one of {OsSettingsWords.All}.");
                }

                query = query with { OsSettings = parsed };
            }

            if (Text(filter, "last_seen_before") is { } seen)
            {
                if (!HostsApi.TryParseTime(seen, out var before))
                {
                    return Fail<HostQuery>("filter.last_seen_before", "must be an ISO 8601 time with an offset, such as 2026-12-01T00:00:00Z.");
                }

                query = query with { LastSeenBefore = before.ToUniversalTime() };
            }

            if (filter.TryGetProperty("certificate_expires_within_days", out var days) && days.ValueKind != JsonValueKind.Null)
            {
                if (days.ValueKind != JsonValueKind.Number || !HostsApi.TryExpiresBefore(days.GetRawText(), now, out var expiresBefore))
                {
                    return Fail<HostQuery>("filter.certificate_expires_within_days", $"must be a whole number of days from 0 to {HostsApi.MaxExpiryDays}.");
                }

                query = query with { CertificateExpiresBefore = expiresBefore };
            }

            // A field present but not a string (or null) is a mistake, not an absent filter.
            var wrongType = filter.EnumerateObject().FirstOrDefault(f =>
                f.Name != "certificate_expires_within_days" && f.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null));

            return wrongType.Value.ValueKind == JsonValueKind.Undefined
                ? query
                : Fail<HostQuery>($"filter.{wrongType.Name}", "must be a string.");
        }

        private RefetchJobSpec? Fail(string field, string message) => Fail<RefetchJobSpec>(field, message);

        private T? Fail<T>(string field, string message)
            where T : class
        {
            Problem ??= Problems.Invalid(field, message);

            return null;
        }
    }

    private static string? Text(JsonElement filter, string name) =>
        filter.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool IsJobId(string value) => value.Length == 32 && value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    private static ProblemDetails InvalidJobId(string value) =>
        Problems.Invalid("job_id", $"'{Truncate(value)}' is not a job id (32 lowercase hex digits).");

    private static ProblemDetails UnknownJob(string jobId) => new()
    {
        Status = StatusCodes.Status404NotFound,
        Title = "Unknown refetch job",
        Detail = $"No refetch job '{jobId}' was started.",
    };

    private static string Truncate(string value) => value.Length <= 80 ? value : value[..80] + "…";

    [LoggerMessage(EventId = 740, Level = LogLevel.Information, Message = "Refetch job {JobId} requested: {Rate}/s, {Matched} hosts matched")]
    private static partial void LogStarted(ILogger logger, string jobId, int rate, int matched);
}

/// <summary>
/// A bulk refetch job as the API shows it. <c>filter</c> is the posted filter, normalised (null with
/// <c>host_ids</c>); <c>host_ids</c> is how many distinct ids were listed (null with a filter).
/// </summary>
public sealed record RefetchJobResponse(
    string JobId,
    string State,
    int Rate,
    RefetchJobFilter? Filter,
    int? HostIds,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    DateTimeOffset UpdatedAt,
    int Matched,
    int Requested,
    int Pending,
    int Verifying,
    int Verified,
    int Failed,
    int Superseded,
    int Unknown,
    double RequestsPerSecond,
    DateTimeOffset? Eta)
{
    [JsonIgnore]
    public bool Finished => State is "completed" or "cancelled";

    public static RefetchJobResponse From(RefetchJobView view) => new(
        view.JobId,
        view.State.ToString().ToLowerInvariant(),
        view.Spec.RatePerSecond,
        view.Spec.Filter is { } filter ? RefetchJobFilter.From(filter, view.Spec.CreatedAt) : null,
        view.Spec.HostIds?.Count,
        view.Spec.CreatedAt,
        view.StartedAt,
        view.FinishedAt,
        view.UpdatedAt,
        view.Matched,
        view.Requested,
        view.Counts.Pending,
        view.Counts.Verifying,
        view.Counts.Verified,
        view.Counts.Failed,
        view.Superseded,
        view.Unknown,
        view.RequestsPerSecond,
        view.EstimatedCompletion);

    /// <summary>True when a stream has nothing new to send: the same state and the same counts.</summary>
    public bool SameNumbers(RefetchJobResponse other) =>
        (State, Matched, Requested, Pending, Verifying, Verified, Failed, Superseded, Unknown)
        == (other.State, other.Matched, other.Requested, other.Pending, other.Verifying, other.Verified, other.Failed, other.Superseded, other.Unknown);
}

/// <summary>The filter of a job, with the fields it sets; the same words and limits as the host list.</summary>
public sealed record RefetchJobFilter(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Platform,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), StringLength(HostsApi.MaxOsVersionLength, MinimumLength = 1)] string? OsVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), StringLength(TeamIds.MaxLength, MinimumLength = 1)] string? TeamId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? OsSettings,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? LastSeenBefore,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), Range(0, HostsApi.MaxExpiryDays)] int? CertificateExpiresWithinDays)
{
    /// <summary>The Api turned <c>certificate_expires_within_days</c> into an instant from the job's creation; this turns it back.</summary>
    public static RefetchJobFilter From(HostQuery query, DateTimeOffset createdAt) => new(
        query.Status is { } status ? StatusWords.Of(status) : null,
        query.Platform,
        query.OsVersion,
        query.TeamId,
        query.OsSettings is { } settings ? settings.ToString().ToLowerInvariant() : null,
        query.LastSeenBefore,
        query.CertificateExpiresBefore is { } before ? (int)Math.Round((before - createdAt).TotalDays) : null);
}

// Documents the body only: the handler reads the JSON itself, to name each mistake in its 400.
/// <summary>What a bulk refetch covers, and how fast: exactly one of <c>filter</c> and <c>host_ids</c>.</summary>
/// <param name="Filter">The hosts the index matches; <c>{}</c> is every host.</param>
/// <param name="HostIds">1 to 1000 hardware UUIDs; repeats collapse.</param>
/// <param name="Rate">Requests a second, 1 to 5000; the silo's default when left out.</param>
public sealed record RefetchJobRequest(
    RefetchJobFilter? Filter,
    [property: MinLength(1), MaxLength(RefetchJobs.MaxExplicitHosts)] IReadOnlyList<string>? HostIds,
    [property: Range(1, RefetchJobs.MaxRatePerSecond)] int? Rate);
