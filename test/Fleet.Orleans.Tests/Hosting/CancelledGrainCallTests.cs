using Microsoft.AspNetCore.Http;

namespace Fleet.Tests.Hosting;

/// <summary>
/// Found by the chaos suite: on an overloaded silo Orleans cancels a grain activation, and the Api's grain call
/// ends in <see cref="TaskCanceledException"/> although the client still waits. That is the cluster giving up,
/// and must be a 503 with Retry-After like a timeout, not a 500.
/// </summary>
public sealed class CancelledGrainCallTests
{
    [Fact]
    public async Task CancelledGrainCall_WhileClientWaits_Is503WithRetryAfter()
    {
        var (handler, context) = HandlerKit.Create();

        var handled = await handler.TryHandleAsync(context, new TaskCanceledException("A task was canceled."), CancellationToken.None);

        Assert.Equal(
            (true, StatusCodes.Status503ServiceUnavailable, "5", "application/problem+json"),
            (handled, context.Response.StatusCode, context.Response.Headers.RetryAfter.ToString(), context.Response.ContentType));
    }

    [Fact]
    public async Task CancelledRequest_ClientGone_IsLeftToTheFramework()
    {
        var (handler, context) = HandlerKit.Create();
        using var aborted = new CancellationTokenSource();
        await aborted.CancelAsync();
        context.RequestAborted = aborted.Token;

        var handled = await handler.TryHandleAsync(context, new TaskCanceledException(), CancellationToken.None);

        Assert.Equal((false, StatusCodes.Status200OK), (handled, context.Response.StatusCode));
    }
}
