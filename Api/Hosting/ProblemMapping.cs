using Azure;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Orleans.Runtime;

namespace Fleet.Api.Hosting;

internal static class ProblemMapping
{
    public static IServiceCollection AddFleetProblemDetails(this IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddExceptionHandler<ClusterUnavailableHandler>();

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
            context.Response.StatusCode = bad.StatusCode;
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                Exception = exception,
                ProblemDetails = new ProblemDetails { Status = bad.StatusCode, Title = "Bad request", Detail = bad.Message },
            });
        }

        if (!IsUnavailable(exception) && !IsCancelledByCluster(context, exception))
        {
            return false;
        }

        LogUnavailable(context.Request.Path, exception.GetType().Name, exception);
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Service temporarily unavailable",
                Detail = exception is TimeoutException || exception.InnerException is TimeoutException
                    ? "The cluster did not answer in time. The change may still be applied once storage answers; " +
                      "retrying is safe, since a refetch in flight is returned rather than restarted."
                    : "The cluster or its storage could not be reached. Nothing was changed; retry after the delay.",
            },
        });
    }

    private static bool IsUnavailable(Exception exception) => exception switch
    {
        SiloUnavailableException or OrleansMessageRejectionException or TimeoutException => true,
        RequestFailedException or System.Net.Http.HttpRequestException or System.Net.Sockets.SocketException => true,
        OrleansException { InnerException: { } inner } => IsUnavailable(inner),
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsUnavailable),
        _ when exception.GetType().Name == "ConnectionFailedException" => true,
        _ => exception.InnerException is { } inner && IsUnavailable(inner),
    };

    // A call cancelled while the client still waits was given up by the cluster (a grain activation cancelled on an
    // overloaded silo), not by the client: as unavailable as a timeout.
    private static bool IsCancelledByCluster(HttpContext context, Exception exception) =>
        exception is OperationCanceledException && !context.RequestAborted.IsCancellationRequested;

    [LoggerMessage(EventId = 300, Level = LogLevel.Error, Message = "Request {Path}: cluster or storage unavailable ({Kind})")]
    private partial void LogUnavailable(string path, string kind, Exception exception);
}
