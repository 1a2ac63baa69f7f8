using System.Diagnostics;
using System.Net;
using Fleet.Contracts;
using Fleet.Grains.Events;
using Fleet.Grains.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Fleet.Tests.Webhooks;

/// <summary>The sink and the dispatcher on their own (no cluster), against the loopback receiver.</summary>
public sealed class WebhookDispatcherTests
{
    private static readonly DateTimeOffset s_failedAt = new(2026, 3, 1, 12, 0, 4, TimeSpan.Zero);

    private static HostEvent Failure(string hostId) => new(
        new HostIndexEntry(hostId, 3, RefetchStatus.Failed, "ubuntu", "22.04.1 LTS", "web-1", null, null, s_failedAt,
            new Reason(ReasonCodes.AgentSilent, "silent"), TeamId: "team-a"),
        [new Transition(s_failedAt, 2, RefetchStatus.Pending, RefetchStatus.Failed, new Reason(ReasonCodes.AgentSilent, "silent"))],
        HostAlert.Failed,
        s_failedAt.AddMilliseconds(5));

    private static ServiceProvider Services(WebhookReceiver receiver, Dictionary<string, string?> settings)
    {
        settings["Fleet:Webhooks:Url"] = receiver.Url.ToString();
        settings["Fleet:Webhooks:Secret"] = WebhookReceiver.Secret;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        return new ServiceCollection().AddLogging().AddMetrics().AddSingleton(TimeProvider.System)
            .AddFleetWebhooks(configuration).BuildServiceProvider();
    }

    [Fact]
    public async Task RetryAfter_IsHonouredInsteadOfTheLongerBackoff()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.RetryAfter = "1";
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        receiver.Script(hostId, HttpStatusCode.TooManyRequests);
        await using var services = Services(receiver, new()
        {
            ["Fleet:Webhooks:InitialBackoff"] = "00:00:30",
            ["Fleet:Webhooks:MaxBackoff"] = "00:01:00",
        });
        var dispatcher = services.GetServices<IHostedService>().OfType<WebhookDispatcher>().Single();
        await dispatcher.StartAsync(TestContext.Current.CancellationToken);

        services.GetRequiredService<IHostEventSink>().Publish(Failure(hostId));
        var received = await receiver.WaitForAsync(hostId, 2, TimeSpan.FromSeconds(10));
        await dispatcher.StopAsync(TestContext.Current.CancellationToken);

        var wait = received[1].At - received[0].At;
        Assert.Equal([429, 200], received.Select(r => r.Answered).ToArray());
        Assert.True(wait >= TimeSpan.FromSeconds(0.9) && wait < TimeSpan.FromSeconds(5),
            $"host {hostId}: second attempt {wait.TotalMilliseconds:F0} ms after the first, expected about 1 s (Retry-After)");
        Assert.Equal(1, services.GetRequiredService<WebhookMetrics>().Total(WebhookOutcome.Delivered));
    }

    [Fact]
    public async Task Payload_CarriesTheHostsFieldsInSnakeCase()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        await using var services = Services(receiver, []);
        var dispatcher = services.GetServices<IHostedService>().OfType<WebhookDispatcher>().Single();
        await dispatcher.StartAsync(TestContext.Current.CancellationToken);

        services.GetRequiredService<IHostEventSink>().Publish(Failure(hostId));
        var received = Assert.Single(await receiver.WaitForAsync(hostId, 1, TimeSpan.FromSeconds(10)));
        await dispatcher.StopAsync(TestContext.Current.CancellationToken);

        Assert.True(received.SignatureValid, $"host {hostId}: signature did not verify");
        var expected = $$"""
            {"id":"{{WebhookEvents.IdOf(hostId, 3, WebhookEvents.Failed)}}","type":"host.failed","host_id":"{{hostId}}","hostname":"web-1","platform":"ubuntu","os_version":"22.04.1 LTS","team_id":"team-a","epoch":2,"status":"failed","reason":{"code":"agent_silent","message":"silent"},"occurred_at":"2026-03-01T12:00:04+00:00"}
            """;
        Assert.Equal(expected, received.Body.GetRawText());
    }

    [Fact]
    public async Task Stop_WhileTheReceiverHangs_EndsPromptly()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Hang = true;
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        await using var services = Services(receiver, new() { ["Fleet:Webhooks:Timeout"] = "00:01:00" });
        var dispatcher = services.GetServices<IHostedService>().OfType<WebhookDispatcher>().Single();
        await dispatcher.StartAsync(TestContext.Current.CancellationToken);
        services.GetRequiredService<IHostEventSink>().Publish(Failure(hostId));
        await receiver.WaitForAsync(hostId, 1, TimeSpan.FromSeconds(10));

        var watch = Stopwatch.StartNew();
        await dispatcher.StopAsync(TestContext.Current.CancellationToken);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"stopping took {watch.Elapsed.TotalMilliseconds:F0} ms with a hung delivery");
        Assert.Equal(1, services.GetRequiredService<WebhookMetrics>().Unfinished);
    }
}
