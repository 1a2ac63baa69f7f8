using Fleet.Grains.Webhooks;
using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;

namespace Fleet.Tests.Webhooks;

/// <summary>
/// A receiver on 127.0.0.1 and a one-silo cluster that sends it webhooks: retries 100 ms then 200 ms apart (at
/// most 300 ms), three attempts, 2 s per attempt. <see cref="Settings"/> adds or changes settings.
/// </summary>
public class WebhookClusterFixture : IAsyncLifetime
{
    public WebhookReceiver Receiver { get; private set; } = null!;

    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public WebhookMetrics Metrics => SiloServices.GetRequiredService<WebhookMetrics>();

    public WebhookQueue Queue => SiloServices.GetRequiredService<WebhookQueue>();

    private IServiceProvider SiloServices => Assert.IsType<InProcessSiloHandle>(Assert.Single(Cluster.Silos)).SiloHost.Services;

    protected virtual Dictionary<string, string?> Settings() => new()
    {
        ["Fleet:Webhooks:Secret"] = WebhookReceiver.Secret,
        ["Fleet:Webhooks:MaxAttempts"] = "3",
        ["Fleet:Webhooks:InitialBackoff"] = "00:00:00.100",
        ["Fleet:Webhooks:MaxBackoff"] = "00:00:00.300",
        ["Fleet:Webhooks:Timeout"] = "00:00:02",
    };

    public async ValueTask InitializeAsync()
    {
        Receiver = await WebhookReceiver.StartAsync();
        var settings = Settings();
        settings["Fleet:Webhooks:Url"] = Receiver.Url.ToString();
        Cluster = FleetTestCluster.Create(settings);
        await Cluster.DeployAsync();
    }

    /// <summary>Waits until every event queued so far has reached its outcome, so totals can be compared.</summary>
    public async Task SettledAsync()
    {
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (Metrics.Unfinished > 0)
        {
            Assert.False(cancellation.IsCancellationRequested,
                $"webhooks still busy after 15 s: {Metrics.Unfinished} events unfinished");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Receiver.DisposeAsync();
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
