using Azure;
using Microsoft.AspNetCore.Http;
using Orleans.Networking.Shared;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Fleet.Tests.Hosting;

/// <summary>
/// Found by the chaos suite: while a killed silo restarted, an agent's <c>distributed/read</c> answered 500. The
/// client's gateway connection failed with a <see cref="ConnectionFailedException"/>, an <see cref="OrleansException"/>
/// wrapping a socket error of Orleans' own; the handler followed the wrapper to its inner exception, did not
/// recognise that, and left the request to the framework.
/// </summary>
public sealed class UnreachableGatewayTests
{
    [Fact]
    public async Task GatewayConnectionRefused_Is503WithRetryAfter()
    {
        var (handler, context) = HandlerKit.Create();

        var handled = await handler.TryHandleAsync(context, ConnectionFailed(), CancellationToken.None);

        Assert.Equal(
            (true, StatusCodes.Status503ServiceUnavailable, "5", "application/problem+json"),
            (handled, context.Response.StatusCode, context.Response.Headers.RetryAfter.ToString(), context.Response.ContentType));
    }

    [Fact]
    public async Task StorageErrorWrappedByTheStorageProvider_Is503()
    {
        var (handler, context) = HandlerKit.Create();
        var wrapped = new OrleansException("Error from storage provider", new RequestFailedException(503, "Service Unavailable"));

        var handled = await handler.TryHandleAsync(context, wrapped, CancellationToken.None);

        Assert.Equal((true, StatusCodes.Status503ServiceUnavailable), (handled, context.Response.StatusCode));
    }

    [Fact]
    public async Task GrainBugWrappedByOrleans_IsLeftToTheFramework()
    {
        var (handler, context) = HandlerKit.Create();
        var wrapped = new OrleansException("grain failed", new InvalidOperationException("a bug"));

        var handled = await handler.TryHandleAsync(context, wrapped, CancellationToken.None);

        Assert.Equal((false, StatusCodes.Status200OK), (handled, context.Response.StatusCode));
    }

    /// <summary>The exception the client threw in the chaos run.</summary>
    private static ConnectionFailedException ConnectionFailed() => new(
        "Unable to connect to endpoint S127.0.0.1:30591:0. See InnerException",
        new SocketConnectionException("Unable to connect to 127.0.0.1:30591. Error: ConnectionRefused"));
}
