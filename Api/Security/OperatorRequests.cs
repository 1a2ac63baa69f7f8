using System.Security.Cryptography;
using System.Text;
using Fleet.Api.Hosting;
using Fleet.Api.Operators;
using Fleet.Contracts;
using Microsoft.AspNetCore.Mvc;

namespace Fleet.Api.Security;

/// <summary>Marks an operator endpoint: its body limit, and that POST and PUT honour <c>Idempotency-Key</c>.</summary>
public sealed class OperatorRequestMetadata(int maxBodyBytes)
{
    public int MaxBodyBytes => maxBodyBytes;
}

public static class OperatorRequests
{
    /// <summary>
    /// The largest operator body: a bulk refetch of 1,000 host ids is about 40 KiB (46 KiB indented), the largest
    /// request there is; this leaves room for a filter and whitespace.
    /// </summary>
    public const int DefaultMaxBodyBytes = 128 * 1024;

    /// <summary>The largest answer kept for replay; larger answers are sent but not kept, so a retry runs again.</summary>
    public const int MaxStoredAnswerBytes = 256 * 1024;

    /// <summary>Adds <see cref="OperatorRequestMiddleware"/>; call it after authorization, so the operator is known.</summary>
    public static IApplicationBuilder UseOperatorRequests(this IApplicationBuilder app) =>
        app.UseMiddleware<OperatorRequestMiddleware>();

    /// <summary>Rate limiting per operator, the body limit, and idempotency keys, for a whole operator route group.</summary>
    public static TBuilder AsOperatorApi<TBuilder>(this TBuilder builder, int maxBodyBytes = DefaultMaxBodyBytes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new OperatorRequestMetadata(maxBodyBytes)).RequireRateLimiting(RateLimits.Operators);
}

/// <summary>
/// Runs after authorization on operator endpoints. Reads the body into memory up to its limit (over it: 413), then,
/// for a POST or PUT with an <c>Idempotency-Key</c>, claims the key in its grain: a retry of an answered request
/// gets the first answer again, a key still held gets 409, a key used for another request gets 422.
/// </summary>
internal sealed partial class OperatorRequestMiddleware(RequestDelegate next, IGrainFactory grains, ILogger<OperatorRequestMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<OperatorRequestMetadata>() is not { } metadata)
        {
            await next(context);
            return;
        }

        var request = context.Request;
        var body = Array.Empty<byte>();
        if (HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method))
        {
            if (await RequestBodies.ReadAsync(request, metadata.MaxBodyBytes) is not { } read)
            {
                LogTooLarge(request.Method, request.Path, metadata.MaxBodyBytes);
                await ProblemAsync(context, StatusCodes.Status413PayloadTooLarge, "Payload too large",
                    $"The body is larger than {metadata.MaxBodyBytes} bytes, the most this endpoint takes.");
                return;
            }

            body = read;
            request.Body = new MemoryStream(body, writable: false);
        }

        if (!(HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method))
            || !request.Headers.TryGetValue(IdempotencyKeys.Header, out var keys))
        {
            await next(context);
            return;
        }

        if (keys.Count != 1 || !IdempotencyKeys.IsValid(keys[0]))
        {
            await TypedResults.Problem(Problems.Invalid(
                IdempotencyKeys.Header, $"must be one header of 1 to {IdempotencyKeys.MaxLength} printable ASCII characters.")).ExecuteAsync(context);
            return;
        }

        var principal = context.User.Identity?.Name ?? string.Empty;
        await RunOnceAsync(context, grains.GetGrain<IIdempotencyGrain>(IdempotencyKeys.GrainKey(principal, keys[0]!)), Fingerprint(request, body));
    }

    private async Task RunOnceAsync(HttpContext context, IIdempotencyGrain key, string fingerprint)
    {
        var begin = await key.BeginAsync(fingerprint);
        switch (begin.Outcome)
        {
            case IdempotencyOutcome.Replay:
                await ReplayAsync(context, begin.Answer!);
                return;
            case IdempotencyOutcome.InProgress:
                await ProblemAsync(context, StatusCodes.Status409Conflict, "Request in progress",
                    "A request with this Idempotency-Key is still running; retry once it has answered.");
                return;
            case IdempotencyOutcome.Mismatch:
                await ProblemAsync(context, StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused",
                    "This Idempotency-Key was used for a different request (method, path, query or body); use a new key.");
                return;
        }

        var response = context.Response;
        var original = response.Body;
        using var captured = new MemoryStream();
        response.Body = captured;
        try
        {
            await next(context);
        }
        catch
        {
            // No answer: give the key back so that the retry the client will make runs the request.
            await key.ReleaseAsync(fingerprint);
            throw;
        }
        finally
        {
            response.Body = original;
        }

        await KeepAsync(context, key, fingerprint, captured);
        captured.Position = 0;
        await captured.CopyToAsync(original, context.RequestAborted);
    }

    // Answers a client may see again are kept: successes and refusals of the input. A 5xx is the server's failure,
    // and the retry must run.
    private async Task KeepAsync(HttpContext context, IIdempotencyGrain key, string fingerprint, MemoryStream captured)
    {
        var response = context.Response;
        if (response.StatusCode >= 500 || captured.Length > OperatorRequests.MaxStoredAnswerBytes)
        {
            await key.ReleaseAsync(fingerprint);
            return;
        }

        var answer = new IdempotentAnswer(response.StatusCode, response.ContentType, response.Headers.Location, captured.ToArray());
        try
        {
            await key.CompleteAsync(fingerprint, answer);
        }
        catch (Exception exception)
        {
            // The request ran; its answer still goes out. Only a retry's replay is lost, and the grain has let go of the key.
            LogNotKept(context.Request.Method, context.Request.Path, response.StatusCode, exception);
        }
    }

    private static async Task ReplayAsync(HttpContext context, IdempotentAnswer answer)
    {
        var response = context.Response;
        response.StatusCode = answer.Status;
        response.ContentType = answer.ContentType;
        if (answer.Location is { } location)
        {
            response.Headers.Location = location;
        }

        response.Headers[IdempotencyKeys.ReplayedHeader] = "true";
        await response.Body.WriteAsync(answer.Body, context.RequestAborted);
    }

    private static string Fingerprint(HttpRequest request, byte[] body)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method}\n{request.Path}{request.QueryString}\n"));
        hash.AppendData(body);

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static Task ProblemAsync(HttpContext context, int status, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail }).ExecuteAsync(context);

    [LoggerMessage(EventId = 340, Level = LogLevel.Warning,
        Message = "Operator request {Method} {Path} refused: the body is larger than {Limit} bytes")]
    private partial void LogTooLarge(string method, PathString path, int limit);

    [LoggerMessage(EventId = 341, Level = LogLevel.Error,
        Message = "Operator request {Method} {Path} answered {Status}, but the answer could not be kept for its Idempotency-Key")]
    private partial void LogNotKept(string method, PathString path, int status, Exception exception);
}
