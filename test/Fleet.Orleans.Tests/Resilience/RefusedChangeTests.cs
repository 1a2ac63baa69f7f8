using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Resilience;

/// <summary>
/// Found by a break test: a refetch answered 503 ("nothing was changed") because its index shard's silo had just
/// been killed ran anyway. The refused change stayed in the host's memory, and the activation, dropped for it,
/// wrote its pending last-seen time on the way out, and the change with it. Storage works throughout here; only
/// the shard's save of the wake-up fails.
/// </summary>
public sealed class RefusedChangeTests : IAsyncLifetime
{
    private OwnCluster _own = null!;

    public async ValueTask InitializeAsync() =>
        _own = await OwnCluster.StartAsync(new Dictionary<string, string?> { [InjectedFaults.SettingKey] = "true" });

    public ValueTask DisposeAsync() => _own.DisposeAsync();

    [Fact]
    public async Task RefetchRefusedWhileItsShardCannotSave_IsNotStoredWhenTheHostDeactivates()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var host = _own.Cluster.Client.GetGrain<IHostGrain>(hostId);
        var enrolled = await host.EnrollAsync(new EnrollRequest(new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["os_version"] = new Dictionary<string, string> { ["platform"] = "ubuntu", ["version"] = "24.04", ["name"] = "Ubuntu" },
        }));

        // A check-in leaves a last-seen time for the host to write when it deactivates.
        Assert.True(await host.LogAsync(enrolled.NodeKey[(enrolled.NodeKey.IndexOf(':', StringComparison.Ordinal) + 1)..]));
        var before = (await host.GetAsync())!.Revision;
        Exception? refused;
        using (InjectedFaults.FailTrackWake(hostId))
        {
            refused = await Record.ExceptionAsync(() => host.RequestRefetchAsync());
        }

        Assert.IsType<SiloUnavailableException>(refused);

        // The next call reaches a new activation, which reads what was stored.
        var stored = await EventuallyAsync(
            () => host.GetAsync(),
            view => view is not null,
            $"host {hostId} readable after the refused refetch");
        Assert.True(
            (stored!.Refetch, stored.Revision) == (null, before),
            $"host {hostId}: stored refetch epoch {stored.Refetch?.Epoch} ({stored.Refetch?.Status}), revision {stored.Revision} " +
            $"(before the refusal {before}); the refused refetch must leave storage as it was");
    }
}
