using Fleet.Api.Diagnostics;
using Fleet.Api.Hosting;
using Fleet.Api.Security;
using Fleet.Contracts;

namespace Fleet.Api.Agents;

/// <summary>
/// The osquery TLS remote API (enroll, config, distributed read and write, log), wire-compatible with
/// osquery 5.x. Agents authenticate with their node key; a key the host no longer holds gets 401 with
/// <c>{"node_invalid": true}</c>, which makes osquery re-enroll.
/// </summary>
public static partial class OsqueryApi
{
    /// <summary>The check-in leases this process holds: a hosted sweep, the holder hosts revoke through, and a gateway watcher.</summary>
    public static IServiceCollection AddCheckInLeases(this IServiceCollection services)
    {
        services.AddSingleton<CheckInLeases>();
        services.AddHostedService(sp => sp.GetRequiredService<CheckInLeases>());
        services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<CheckInLeases>());

        return services;
    }

    public static RouteGroupBuilder MapOsqueryApi(this IEndpointRouteBuilder app, string prefix)
    {
        var osquery = app.MapGroup(prefix).AllowAnonymous().WithTags("Agents").CountsAgentRequests(prefix);

        osquery.MapPost("/enroll", EnrollAsync).RequireRateLimiting(RateLimits.Enroll);
        osquery.MapPost("/config", ConfigAsync).RequireRateLimiting(RateLimits.Agents);
        osquery.MapPost("/distributed/read", ReadAsync).RequireRateLimiting(RateLimits.Agents);
        osquery.MapPost("/distributed/write", WriteAsync).RequireRateLimiting(RateLimits.Agents);
        osquery.MapPost("/log", LogAsync).RequireRateLimiting(RateLimits.Agents);

        return osquery;
    }

    private static async Task<IResult> EnrollAsync(
        HttpRequest request, EnrollSecretVerifier secrets, EnrollHostLimiter hostLimits, IGrainFactory grains, ILoggerFactory loggers)
    {
        var logger = Logger(loggers);
        var parsed = await OsqueryMessages.ReadEnrollAsync(request, request.HttpContext.RequestAborted);
        if (parsed.Error is { } error)
        {
            LogBadRequest(logger, "enroll", error);
            return AgentResults.Refused(parsed);
        }

        var enroll = parsed.Value!;
        ApiTelemetry.MarkHost(enroll.HostId);
        if (!secrets.IsValid(enroll.EnrollSecret))
        {
            LogEnrollRefused(logger, enroll.HostId);
            return AgentResults.NodeInvalid("The enroll secret is not valid.");
        }

        // Only enrollments with a valid secret count against the host, so nobody without one can lock a host out;
        // guesses are limited per source.
        if (!hostLimits.TryAcquire(request.HttpContext, enroll.HostId, out var retryAfter))
        {
            LogEnrollThrottled(logger, enroll.HostId);
            request.HttpContext.Response.Headers.RetryAfter = RateLimits.RetryAfterSeconds(retryAfter);
            return AgentResults.TooManyRequests("This host enrolled too often; retry later.");
        }

        var result = await grains.GetGrain<IHostGrain>(enroll.HostId).EnrollAsync(new EnrollRequest(enroll.HostDetails));

        return TypedResults.Ok(new { node_key = result.NodeKey });
    }

    private static async Task<IResult> ConfigAsync(
        HttpRequest request, IGrainFactory grains, IdempotentCalls calls, ILoggerFactory loggers)
    {
        var key = await ReadNodeKeyAsync(request, "config", OsqueryMessages.MaxNodeKeyBodyBytes, loggers);
        if (key.Failure is { } failure)
        {
            return failure;
        }

        var valid = await calls.RunAsync("agent config", () => grains.GetGrain<IHostGrain>(key.HostId!).GetConfigAsync(key.Secret!));

        return valid ? TypedResults.Ok(AgentConfig.Default) : AgentResults.NodeInvalid();
    }

    private static async Task<IResult> ReadAsync(
        HttpRequest request, IGrainFactory grains, CheckInLeases leases, ILoggerFactory loggers)
    {
        var key = await ReadNodeKeyAsync(request, "distributed/read", OsqueryMessages.MaxNodeKeyBodyBytes, loggers);
        if (key.Failure is { } failure)
        {
            return failure;
        }

        // Most check-ins: the host said it owes nothing, and has not revoked that since.
        if (leases.Covers(key.HostId!, key.Secret!))
        {
            return AgentResults.NoQueries;
        }

        var askedAt = leases.Now();
        var result = await grains.GetGrain<IHostGrain>(key.HostId!).ReadAsync(key.Secret!, leases.Reference);
        if (result.Lease is { } lease)
        {
            leases.Hold(key.HostId!, key.Secret!, lease, askedAt);
        }

        return AgentResults.Read(result);
    }

    private static async Task<IResult> WriteAsync(HttpRequest request, IGrainFactory grains, ILoggerFactory loggers)
    {
        var parsed = await OsqueryMessages.ReadWriteAsync(request, request.HttpContext.RequestAborted);
        if (parsed.Error is { } error)
        {
            LogBadRequest(Logger(loggers), "distributed/write", error);
            return AgentResults.Refused(parsed);
        }

        var write = parsed.Value!;
        if (!NodeKeys.TryParse(write.NodeKey, out var hostId, out var secret))
        {
            LogBadNodeKey(Logger(loggers), "distributed/write");
            return AgentResults.NodeInvalid();
        }

        ApiTelemetry.MarkHost(hostId);

        var valid = await grains.GetGrain<IHostGrain>(hostId).WriteAsync(secret, write.Results);

        return valid ? AgentResults.Accepted : AgentResults.NodeInvalid();
    }

    private static async Task<IResult> LogAsync(HttpRequest request, IGrainFactory grains, ILoggerFactory loggers)
    {
        var key = await ReadNodeKeyAsync(request, "log", OsqueryMessages.MaxLogBodyBytes, loggers);
        if (key.Failure is { } failure)
        {
            return failure;
        }

        var valid = await grains.GetGrain<IHostGrain>(key.HostId!).LogAsync(key.Secret!);

        return valid ? AgentResults.Accepted : AgentResults.NodeInvalid();
    }

    private static async Task<(string? HostId, string? Secret, IResult? Failure)> ReadNodeKeyAsync(
        HttpRequest request, string endpoint, int limit, ILoggerFactory loggers)
    {
        var parsed = await OsqueryMessages.ReadNodeKeyAsync(request, limit, request.HttpContext.RequestAborted);
        if (parsed.Error is { } error)
        {
            LogBadRequest(Logger(loggers), endpoint, error);
            return (null, null, AgentResults.Refused(parsed));
        }

        if (!NodeKeys.TryParse(parsed.Value, out var hostId, out var secret))
        {
            LogBadNodeKey(Logger(loggers), endpoint);
            return (null, null, AgentResults.NodeInvalid());
        }

        ApiTelemetry.MarkHost(hostId);

        return (hostId, secret, null);
    }

    // Check-ins log only when refused, so one that goes through does not pay for the logger's lookup.
    private static ILogger Logger(ILoggerFactory loggers) => loggers.CreateLogger(typeof(OsqueryApi));

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "osquery {Endpoint}: refused malformed request: {Error}")]
    private static partial void LogBadRequest(ILogger logger, string endpoint, string error);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "osquery {Endpoint}: node key is missing or malformed")]
    private static partial void LogBadNodeKey(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "osquery enroll: wrong enroll secret for host {HostId}")]
    private static partial void LogEnrollRefused(ILogger logger, string hostId);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "osquery enroll: host {HostId} refused, it enrolled too often")]
    private static partial void LogEnrollThrottled(ILogger logger, string hostId);
}

/// <summary>osquery's error shapes: <c>node_invalid</c> tells the agent whether to re-enroll.</summary>
internal static class AgentResults
{
    /// <summary><c>distributed/read</c> when nothing is owed: most check-ins get this.</summary>
    public static readonly IResult NoQueries = new CachedJson("""{"queries":{}}""");

    /// <summary>The host's answer to a <c>distributed/read</c>, as the agent gets it.</summary>
    public static IResult Read(DistributedReadResult result) => result switch
    {
        { NodeValid: false } => NodeInvalid(),
        { Queries.Count: 0 } => NoQueries,
        _ => TypedResults.Ok(new { queries = result.Queries }),
    };

    /// <summary><c>distributed/write</c> and <c>log</c> accepted.</summary>
    public static readonly IResult Accepted = new CachedJson("{}");

    public static IResult NodeInvalid(string error = "The node key is not valid; enroll again.") =>
        TypedResults.Json(new { error, node_invalid = true }, statusCode: StatusCodes.Status401Unauthorized);

    public static IResult BadRequest(string error) =>
        TypedResults.Json(new { error, node_invalid = false }, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>A body that could not be read: 413 when it was over its limit, otherwise 400.</summary>
    public static IResult Refused<T>(Parsed<T> parsed) => parsed.TooLarge ? TooLarge(parsed.Error!) : BadRequest(parsed.Error!);

    public static IResult TooLarge(string error) =>
        TypedResults.Json(new { error, node_invalid = false }, statusCode: StatusCodes.Status413PayloadTooLarge);

    /// <summary>osquery treats any status but 200 as a failed request and tries again at its next interval.</summary>
    public static IResult TooManyRequests(string error) =>
        TypedResults.Json(new { error, node_invalid = false }, statusCode: StatusCodes.Status429TooManyRequests);
}

/// <summary>The osquery configuration every agent gets.</summary>
internal static class AgentConfig
{
    public static readonly object Default = new
    {
        options = new Dictionary<string, object>
        {
            ["distributed_interval"] = 10,
            ["distributed_tls_max_attempts"] = 3,
            ["config_refresh"] = 60,
            ["logger_tls_period"] = 10,
            ["disable_distributed"] = false,
        },
        schedule = new Dictionary<string, object>(),
    };
}
