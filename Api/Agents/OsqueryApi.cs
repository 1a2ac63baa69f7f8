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
    public static RouteGroupBuilder MapOsqueryApi(this IEndpointRouteBuilder app, string prefix)
    {
        var osquery = app.MapGroup(prefix).AllowAnonymous().WithTags("Agents").CountsAgentRequests(prefix);

        osquery.MapPost("/enroll", EnrollAsync);
        osquery.MapPost("/config", ConfigAsync);
        osquery.MapPost("/distributed/read", ReadAsync);
        osquery.MapPost("/distributed/write", WriteAsync);
        osquery.MapPost("/log", LogAsync);

        return osquery;
    }

    private static async Task<IResult> EnrollAsync(
        HttpRequest request, EnrollSecretVerifier secrets, IGrainFactory grains, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(OsqueryApi));
        var parsed = await OsqueryMessages.ReadEnrollAsync(request, request.HttpContext.RequestAborted);
        if (parsed.Error is { } error)
        {
            LogBadRequest(logger, "enroll", error);
            return AgentResults.BadRequest(error);
        }

        var enroll = parsed.Value!;
        ApiTelemetry.MarkHost(enroll.HostId);
        if (!secrets.IsValid(enroll.EnrollSecret))
        {
            LogEnrollRefused(logger, enroll.HostId);
            return AgentResults.NodeInvalid("The enroll secret is not valid.");
        }

        var result = await grains.GetGrain<IHostGrain>(enroll.HostId).EnrollAsync(new EnrollRequest(enroll.HostDetails));

        return TypedResults.Ok(new { node_key = result.NodeKey });
    }

    private static async Task<IResult> ConfigAsync(
        HttpRequest request, IGrainFactory grains, IdempotentCalls calls, ILoggerFactory loggers)
    {
        var key = await ReadNodeKeyAsync(request, "config", loggers);
        if (key.Failure is { } failure)
        {
            return failure;
        }

        var valid = await calls.RunAsync("agent config", () => grains.GetGrain<IHostGrain>(key.HostId!).GetConfigAsync(key.Secret!));

        return valid ? TypedResults.Ok(AgentConfig.Default) : AgentResults.NodeInvalid();
    }

    private static async Task<IResult> ReadAsync(HttpRequest request, IGrainFactory grains, ILoggerFactory loggers)
    {
        var key = await ReadNodeKeyAsync(request, "distributed/read", loggers);
        if (key.Failure is { } failure)
        {
            return failure;
        }

        var result = await grains.GetGrain<IHostGrain>(key.HostId!).ReadAsync(key.Secret!);

        return result.NodeValid ? TypedResults.Ok(new { queries = result.Queries }) : AgentResults.NodeInvalid();
    }

    private static async Task<IResult> WriteAsync(HttpRequest request, IGrainFactory grains, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(OsqueryApi));
        var parsed = await OsqueryMessages.ReadWriteAsync(request, request.HttpContext.RequestAborted);
        if (parsed.Error is { } error)
        {
            LogBadRequest(logger, "distributed/write", error);
            return AgentResults.BadRequest(error);
        }

        var write = parsed.Value!;
        if (!NodeKeys.TryParse(write.NodeKey, out var hostId, out var secret))
        {
            LogBadNodeKey(logger, "distributed/write");
            return AgentResults.NodeInvalid();
        }

        ApiTelemetry.MarkHost(hostId);

        var valid = await grains.GetGrain<IHostGrain>(hostId).WriteAsync(secret, write.Results);

        return valid ? TypedResults.Ok(new { }) : AgentResults.NodeInvalid();
    }

    private static async Task<IResult> LogAsync(HttpRequest request, IGrainFactory grains, ILoggerFactory loggers)
    {
        var key = await ReadNodeKeyAsync(request, "log", loggers);
        if (key.Failure is { } failure)
        {
            return failure;
        }

        var valid = await grains.GetGrain<IHostGrain>(key.HostId!).LogAsync(key.Secret!);

        return valid ? TypedResults.Ok(new { }) : AgentResults.NodeInvalid();
    }

    private static async Task<(string? HostId, string? Secret, IResult? Failure)> ReadNodeKeyAsync(
        HttpRequest request, string endpoint, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(OsqueryApi));
        var parsed = await OsqueryMessages.ReadNodeKeyAsync(request, request.HttpContext.RequestAborted);
        if (parsed.Error is { } error)
        {
            LogBadRequest(logger, endpoint, error);
            return (null, null, AgentResults.BadRequest(error));
        }

        if (!NodeKeys.TryParse(parsed.Value, out var hostId, out var secret))
        {
            LogBadNodeKey(logger, endpoint);
            return (null, null, AgentResults.NodeInvalid());
        }

        ApiTelemetry.MarkHost(hostId);

        return (hostId, secret, null);
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "osquery {Endpoint}: refused malformed request: {Error}")]
    private static partial void LogBadRequest(ILogger logger, string endpoint, string error);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "osquery {Endpoint}: node key is missing or malformed")]
    private static partial void LogBadNodeKey(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "osquery enroll: wrong enroll secret for host {HostId}")]
    private static partial void LogEnrollRefused(ILogger logger, string hostId);
}

/// <summary>osquery's error shapes: <c>node_invalid</c> tells the agent whether to re-enroll.</summary>
internal static class AgentResults
{
    public static IResult NodeInvalid(string error = "The node key is not valid; enroll again.") =>
        TypedResults.Json(new { error, node_invalid = true }, statusCode: StatusCodes.Status401Unauthorized);

    public static IResult BadRequest(string error) =>
        TypedResults.Json(new { error, node_invalid = false }, statusCode: StatusCodes.Status400BadRequest);
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
