using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;

namespace Fleet.Tests.Identity;

/// <summary>
/// Issue case 7 and the binding's durability: the silo restarts between the device's acknowledgement of a
/// renewal and its first request with the renewed certificate, which must still be recognised; and who owns a
/// certificate survives the restart. Renewal steps get a minute here, so none times out during the restart.
/// </summary>
public sealed class IdentityRestartTests : IAsyncLifetime
{
    private readonly TestCluster _cluster = FleetTestCluster.Create(new Dictionary<string, string?>
    {
        ["Fleet:Mdm:Identity:Renewal:Timeout"] = "00:01:00",
    });

    public async ValueTask InitializeAsync() => await _cluster.DeployAsync();

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    private IHostGrain Host(string id) => _cluster.Client.GetGrain<IHostGrain>(id);

    private IIdentityBindingGrain Binding(string thumbprint) => _cluster.Client.GetGrain<IIdentityBindingGrain>(thumbprint);

    private async Task RestartAsync()
    {
        await _cluster.KillSiloAsync(_cluster.Silos[0], TestContext.Current.CancellationToken);
        await _cluster.StartAdditionalSiloAsync();
        await _cluster.KillClientAsync();
        await _cluster.InitializeClientAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task SiloRestartBetweenAcknowledgementAndFirstUse_TheRenewedCertificateIsStillRecognised_AndBindingsSurvive()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var device = new TestMdmDevice(() => Host(hostId), hostId, TestMdmDevice.Mac("14.1.2"))
            .Present(TestPki.Identity(hostId, notAfter: DateTimeOffset.UtcNow.AddDays(10)));
        await device.EnrollAsync();
        var old = device.Certificate!;
        var command = (await device.IdleAsync()).Next!;
        await device.AnswerAsync(command.CommandUuid, MdmResultStatus.Acknowledged);
        var unknown = Guid.NewGuid().ToString("N").ToUpperInvariant();
        var firstOwner = await Binding(unknown).BindAsync("HOST-A");
        var secondClaim = await Binding(unknown).BindAsync("HOST-B");

        await RestartAsync();
        var afterRestart = (await Host(hostId).GetAsync())!;
        device.Install(command.Identity!);
        var presented = await device.IdleAsync();
        var recorded = (await Host(hostId).GetAsync())!;
        var ownerAfterRestart = await Binding(unknown).OwnerAsync();
        var renewedOwner = await Binding(device.Certificate!.Thumbprint).OwnerAsync();
        var oldOwner = await Binding(old.Thumbprint).OwnerAsync();
        var nobody = await Binding(Guid.NewGuid().ToString("N")).OwnerAsync();

        Assert.Equal(MdmCommandKind.RenewIdentity, command.Kind);
        Assert.Equal(RenewalStatus.Installed, afterRestart.Identity!.Renewal!.Status);
        Assert.Equal(new MdmReportResult(null), presented);
        Assert.Equal(
            (device.Certificate.SerialNumber, old.SerialNumber, IdentityState.Valid),
            (recorded.Identity!.SerialNumber, recorded.Identity.PreviousSerialNumber, recorded.Identity.State));
        Assert.Equal("renewed", recorded.Identity.History[^1].Step);
        Assert.Equal(("HOST-A", "HOST-A", "HOST-A"), (firstOwner, secondClaim, ownerAfterRestart));
        Assert.Equal((hostId, hostId), (renewedOwner, oldOwner));
        Assert.Null(nobody);
    }
}
