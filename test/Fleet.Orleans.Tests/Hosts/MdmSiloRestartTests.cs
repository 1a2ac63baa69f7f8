using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;

namespace Fleet.Tests.Hosts;

/// <summary>
/// Issue case 9: the silo dies after the device sent its acknowledgement but before the host wrote it. The
/// device got no 200, so it resends the same report to the restarted cluster; that must complete the
/// refetch, and nothing may be lost or doubled.
/// </summary>
public sealed class MdmSiloRestartTests : IAsyncLifetime
{
    private static readonly string[] s_required = ["os_version", "osquery_info", "system_info", "uptime"];

    private readonly TestCluster _cluster = FleetTestCluster.Create();

    public async ValueTask InitializeAsync() => await _cluster.DeployAsync();

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    private IHostGrain Host(string id) => _cluster.Client.GetGrain<IHostGrain>(id);

    [Fact]
    public async Task SiloKilledBeforeTheAckWasWritten_ResentAckVerifiesAndNothingIsDoubled()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var details = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "15.1" },
        };
        var key = (await Host(hostId).EnrollAsync(new EnrollRequest(details))).NodeKey;
        var secret = key[(key.IndexOf(':', StringComparison.Ordinal) + 1)..];
        var device = new TestMdmDevice(() => Host(hostId), hostId, TestMdmDevice.Mac("15.1"));
        await device.EnrollAsync();
        var requested = (await Host(hostId).RequestRefetchAsync()).Refetch!;
        Assert.NotEmpty((await Host(hostId).ReadAsync(secret)).Queries);
        Assert.True(await Host(hostId).WriteAsync(secret, Answers()));
        var handedOut = (await device.IdleAsync()).Next!;

        // The device's Acknowledged is in flight when the silo dies: it never reaches storage.
        await _cluster.KillSiloAsync(_cluster.Silos[0], TestContext.Current.CancellationToken);
        await _cluster.StartAdditionalSiloAsync();
        await _cluster.KillClientAsync();
        await _cluster.InitializeClientAsync(TestContext.Current.CancellationToken);
        var afterRestart = (await Host(hostId).GetAsync())!;
        var resent = await device.AnswerAsync(handedOut.CommandUuid, MdmResultStatus.Acknowledged);
        var verified = (await Host(hostId).GetAsync())!;
        var resentAgain = await device.AnswerAsync(handedOut.CommandUuid, MdmResultStatus.Acknowledged);
        var final = (await Host(hostId).GetAsync())!;

        Assert.Equal(RefetchStatus.Verifying, afterRestart.Refetch!.Status);
        Assert.Equal(RefetchStatus.Verified, afterRestart.Refetch.Osquery!.Status);
        Assert.Equal(RefetchStatus.Pending, afterRestart.Refetch.Mdm!.Status);
        Assert.Equal(requested.Mdm!.CommandUuid, handedOut.CommandUuid);
        Assert.Null(resent.Problem);
        Assert.Equal(MdmCommandKind.ProfileList, resent.Next!.Kind);
        Assert.True(verified.Refetch!.Status == RefetchStatus.Verified, $"host {hostId}: expected verified, was {verified.Refetch.Status}");
        Assert.Equal(requested.Epoch, verified.Refetch.Epoch);
        Assert.Null(resentAgain.Problem);
        Assert.Equal(verified.Revision, final.Revision);
        Assert.Equal(1, final.Mdm!.QueuedCommands);

        // Requested; osquery took its queries (and answered: still verifying, MDM owed); the resent ack. The
        // MDM hand-out before the kill was transient and died with the silo.
        Assert.Equal(
            [RefetchStatus.Pending, RefetchStatus.Verifying, RefetchStatus.Verified],
            final.Transitions.Where(t => t.Epoch == requested.Epoch).Select(t => t.To).ToArray());
    }

    private static DetailResults Answers() => new(
        s_required.ToDictionary(n => n, IReadOnlyList<IReadOnlyDictionary<string, string>> (_) => [new Dictionary<string, string> { ["version"] = "15.1" }]),
        s_required.ToDictionary(n => n, _ => 0),
        new Dictionary<string, string>());
}
