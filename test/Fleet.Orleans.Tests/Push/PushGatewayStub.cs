using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Fleet.Tests.Push;

/// <summary>One request as the stub gateway received it.</summary>
public sealed record ReceivedPush(string Method, string Path, string? Topic, string? PushType, string Body);

/// <summary>
/// A push gateway on 127.0.0.1 (a port the system picks) that records every request and answers with the
/// status and body the test sets, or never answers while <see cref="Hang"/> is set.
/// </summary>
public sealed class PushGatewayStub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PushGatewayStub(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    public List<ReceivedPush> Received { get; } = [];

    public HttpStatusCode Status { get; set; } = HttpStatusCode.OK;

    public string? Reason { get; set; }

    public bool Hang { get; set; }

    /// <summary>Completes when a request has arrived while <see cref="Hang"/> was set.</summary>
    public TaskCompletionSource Hanging { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<PushGatewayStub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var stub = new PushGatewayStub(builder.Build());
        stub._app.Run(stub.HandleAsync);
        await stub._app.StartAsync(TestContext.Current.CancellationToken);
        stub.Url = new Uri(stub._app.Urls.Single());

        return stub;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var request = context.Request;
        lock (Received)
        {
            Received.Add(new ReceivedPush(
                request.Method, request.Path, request.Headers["apns-topic"], request.Headers["apns-push-type"], body));
        }

        if (Hang)
        {
            Hanging.TrySetResult();
            await _released.Task.WaitAsync(context.RequestAborted);
        }

        context.Response.StatusCode = (int)Status;
        if (Reason is not null)
        {
            await context.Response.WriteAsJsonAsync(new { reason = Reason }, context.RequestAborted);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _released.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
