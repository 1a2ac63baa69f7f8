using Azure;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Orleans.Networking.Shared;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Orleans.Storage;

namespace Fleet.Api.Hosting;

internal static class ProblemMapping
{
    public static IServiceCollection AddFleetProblemDetails(this IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddExceptionHandler<ClusterUnavailableHandler>();

        // What the handler answers it logs itself, in one line; the middleware's error with a stack would say it
        // again for each of the hundreds of requests a silo kill refuses. Unhandled exceptions keep it.
        services.Configure<ExceptionHandlerOptions>(options => options.SuppressDiagnosticsCallback =
            context => context.ExceptionHandledBy == ExceptionHandledType.ExceptionHandlerService);

        return services;
    }
}

/// <summary>
/// Turns "the cluster or its storage cannot answer right now" into 503 with <c>Retry-After</c>, so clients
/// retry instead of seeing a 500. Anything else is left to the default handler (a 500 without detail).
/// </summary>
internal sealed partial class ClusterUnavailableHandler(
    IProblemDetailsService problems,
    ILogger<ClusterUnavailableHandler> logger) : IExceptionHandler
{
    public const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is BadHttpRequestException bad)
        {
            return await WriteAsync(context, exception, bad.StatusCode, "Bad request", bad.Message);
        }

        if (IsConflict(exception))
        {
            LogConflict(context.Request.Path, exception);
            return await WriteAsync(context, exception, StatusCodes.Status409Conflict, "Changed concurrently",
                "The record was written by another copy of its grain at the same moment, so this change was not stored. " +
                "The record is re-read on the next request; retry it.");
        }

        if (!IsUnavailable(exception) && !IsCancelledByCluster(context, exception))
        {
            return false;
        }

        LogUnavailable(context.Request.Path, exception.GetType().Name, Innermost(exception).Message);
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

        return await WriteAsync(context, exception, StatusCodes.Status503ServiceUnavailable, "Service temporarily unavailable",
            exception is TimeoutException || exception.InnerException is TimeoutException
                ? "The cluster did not answer in time. The change may still be applied once storage answers; " +
                  "retrying is safe, since a refetch in flight is returned rather than restarted."
                : "The cluster or its storage could not be reached. Nothing was changed; retry after the delay.");
    }

    private async ValueTask<bool> WriteAsync(HttpContext context, Exception exception, int status, string title, string detail)
    {
        context.Response.StatusCode = status;

        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }

    /// <summary>
    /// Whether the exception, or one it wraps, says the cluster or its storage could not be reached. A gateway
    /// refusing connections (as while a silo restarts) is a <see cref="ConnectionFailedException"/> wrapping
    /// Orleans' own socket error, which is none of the types here (seen in a chaos run as a 500 on an agent
    /// check-in), so it is named rather than found by following the wrapper.
    /// </summary>
    private static bool IsUnavailable(Exception exception) => exception switch
    {
        SiloUnavailableException or OrleansMessageRejectionException or GatewayTooBusyException or TimeoutException => true,
        ConnectionFailedException or SocketConnectionException => true,
        RequestFailedException or System.Net.Http.HttpRequestException or System.Net.Sockets.SocketException => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsUnavailable),
        _ => exception.InnerException is { } inner && IsUnavailable(inner),
    };

    // The grain drops its activation on an ETag conflict; the next call reads what the other activation stored.
    private static bool IsConflict(Exception exception) =>
        exception is InconsistentStateException || (exception.InnerException is { } inner && IsConflict(inner));

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Request {Path}: grain state changed concurrently (ETag conflict)")]
    private partial void LogConflict(string path, Exception exception);

    // A call cancelled while the client still waits was given up by the cluster (a grain activation cancelled on an
    // overloaded silo), not by the client: as unavailable as a timeout.
    private static bool IsCancelledByCluster(HttpContext context, Exception exception) =>
        exception is OperationCanceledException && !context.RequestAborted.IsCancellationRequested;

    private static Exception Innermost(Exception exception) =>
        exception.InnerException is { } inner ? Innermost(inner) : exception;

    // A warning without a stack: an expected state of the cluster (a silo restarting, storage away), answered 503.
    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Request {Path}: cluster or storage unavailable ({Kind}: {Detail})")]
    private partial void LogUnavailable(string path, string kind, string detail);
}
