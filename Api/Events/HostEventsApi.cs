using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Fleet.Api.Operators;
using Fleet.Api.Security;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using HttpJsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace Fleet.Api.Events;

/// <summary>
/// Live host events as Server-Sent Events: <c>GET /api/v1/events</c> for the fleet, <c>?host_id=X</c> for one
/// host. A stream opens with <c>event: ready</c> once the Api's hub subscription is live, then sends one
/// <c>event: host</c> per change, and a comment line whenever it was quiet for the keep-alive interval.
/// </summary>
public static class HostEventsApi
{
    public const string ReadyEventType = "ready";
    public const string HostEventType = "host";

    private static readonly byte[] s_keepAlive = ": keep-alive\n\n"u8.ToArray();

    /// <summary>The hub subscription, its settings and metrics.</summary>
    public static IServiceCollection AddHostEvents(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<EventStreamOptions>()
            .Bind(configuration.GetSection(EventStreamOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventStreamOptions>>(new EventStreamOptionsValidator(configuration));
        services.AddMetrics();
        services.AddSingleton<EventStreamMetrics>();
        services.AddSingleton<HostEventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<HostEventFeed>());

        return services;
    }

    public static RouteGroupBuilder MapHostEvents(this IEndpointRouteBuilder app)
    {
        var events = app.MapGroup("/api/v1/events")
            .RequireAuthorization(OperatorRoles.CanRead)
            .WithTags("Events")
            .AsOperatorApi();

        events.MapGet("/", Stream)
            .WithSummary("Follow host changes live")
            .WithDescription(
                "Server-sent events: `ready` once the subscription is live (data `{\"host_id\": X or null}`), then one " +
                "`host` event per stored change of a host (data: the host as a list row, the refetch transitions " +
                "since its previous event, and the alert `none`, `failed` or `recovered`), and a keep-alive comment " +
                "on a quiet stream. `host_id` follows one host; without it, every host. No replay on reconnect.")
            .Produces<HostEventMessage>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesValidationProblem();

        return events;
    }

    private static Results<ServerSentEventsResult<string>, ProblemHttpResult> Stream(
        [FromQuery(Name = "host_id")] string? hostId,
        HttpContext context,
        HostEventFeed feed,
        EventStreamMetrics metrics,
        IOptions<EventStreamOptions> options,
        IOptions<HttpJsonOptions> json,
        TimeProvider time)
    {
        string? id = null;
        if (hostId is not null && !HostIds.TryNormalize(hostId, out id))
        {
            return TypedResults.Problem(Problems.InvalidHostId(hostId));
        }

        context.Response.Headers.CacheControl = "no-cache, no-store";
        var writer = new StreamWriter(feed, metrics, context.Response, json.Value.SerializerOptions, options.Value.KeepAliveInterval, time);

        return TypedResults.ServerSentEvents(writer.ReadAsync(id, context.RequestAborted));
    }

    /// <summary>The items of one stream. Keep-alive comments bypass the formatter, which has no comment item.</summary>
    private sealed class StreamWriter(
        HostEventFeed feed,
        EventStreamMetrics metrics,
        HttpResponse response,
        JsonSerializerOptions json,
        TimeSpan keepAlive,
        TimeProvider time)
    {
        public async IAsyncEnumerable<SseItem<string>> ReadAsync(string? hostId, [EnumeratorCancellation] CancellationToken cancellation)
        {
            using var subscriber = feed.Subscribe(hostId);
            await feed.Live.WaitAsync(cancellation);

            yield return new SseItem<string>(JsonSerializer.Serialize(new ReadyMessage(hostId), json), ReadyEventType);

            Task<bool>? waiting = null;
            while (true)
            {
                while (subscriber.Events.TryRead(out var hostEvent))
                {
                    metrics.Sent();
                    yield return new SseItem<string>(JsonSerializer.Serialize(HostEventMessage.Of(hostEvent), json), HostEventType);
                }

                // The pending read survives a keep-alive, so no event is read twice or lost between waits.
                waiting ??= subscriber.Events.WaitToReadAsync(cancellation).AsTask();
                if (!await WaitOrKeepAliveAsync(waiting, cancellation))
                {
                    continue;
                }

                if (!await waiting)
                {
                    yield break;
                }

                waiting = null;
            }
        }

        // True when events are ready; false after a keep-alive. The formatter writes only between the items
        // this enumerator yields, so while it waits here the response is free for a comment line.
        private async Task<bool> WaitOrKeepAliveAsync(Task<bool> waiting, CancellationToken cancellation)
        {
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            var interval = Task.Delay(keepAlive, time, quiet.Token);
            if (await Task.WhenAny(waiting, interval) == waiting)
            {
                await quiet.CancelAsync();
                return true;
            }

            await response.Body.WriteAsync(s_keepAlive, cancellation);
            await response.Body.FlushAsync(cancellation);

            return false;
        }
    }
}

/// <summary>The data of <c>event: ready</c>: the host the stream follows, null for every host.</summary>
public sealed record ReadyMessage(string? HostId);

/// <summary>
/// The data of <c>event: host</c>: the host as the host list shows it, the refetch transitions since its
/// previous event (oldest first), the alert the change raises, and when the host grain published it.
/// </summary>
public sealed record HostEventMessage(HostListItem Host, IReadOnlyList<Transition> Transitions, HostAlert Alert, DateTimeOffset At)
{
    public static HostEventMessage Of(HostEvent e) => new(HostListItem.From(e.Host), e.Transitions, e.Alert, e.At);
}
