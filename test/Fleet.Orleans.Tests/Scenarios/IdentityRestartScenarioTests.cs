using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using Orleans.TestingHost;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Scenarios;

/// <summary>
/// Identity case 7 through HTTP: the silo is killed and replaced between the Mac's acknowledgement of a renewal and
/// its first request with the renewed certificate, while the same in-memory Api stays up and finds the new silo
/// through membership. The renewed certificate must still be recognised. Renewal steps get a minute here, so none
/// times out during the restart.
/// </summary>
public sealed class IdentityRestartScenarioTests : IAsyncLifetime
{
    /// <summary>Silo start-up, the Api's gateway list refresh and a grain call's timeout: measured well under this.</summary>
    private static readonly TimeSpan s_recovery = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    private readonly TestCluster _cluster = FleetTestCluster.Create(new Dictionary<string, string?>
    {
        ["Fleet:Mdm:Identity:Renewal:Timeout"] = "00:01:00",
    });

    private ApiFactory _api = null!;

    public async ValueTask InitializeAsync()
    {
        await _cluster.DeployAsync();
        _api = new ApiFactory(_cluster);
        await Task.Run(() => _api.Server).WaitAsync(TimeSpan.FromSeconds(60), TestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _api.DisposeAsync();
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Case7_SiloRestartBetweenAcknowledgementAndFirstUse_TheRenewedCertificateIsRecognised()
    {
        using var device = _api.CreateClient();
        using var operators = _api.CreateOperatorClient();
        var mac = new HttpTestMac(device, AgentProfile.MacOs14, "restart");
        mac.Identity = TestPki.Identity(mac.HostId, notAfter: DateTimeOffset.UtcNow.AddDays(10));
        await mac.EnrollAsync();
        var old = mac.Identity;
        var acknowledged = await mac.WakeAsync(s_wait);
        var installed = await operators.GetHostAsync(mac.HostId);

        await _cluster.KillSiloAsync(_cluster.Silos[0], TestAborted);
        await _cluster.StartAdditionalSiloAsync();
        var afterRestart = await EventuallyAsync(
            () => TryGetHostAsync(operators, mac.HostId),
            host => host is not null,
            $"{mac}: the Api answering GET host after the silo restart",
            s_recovery);
        var presented = await mac.SessionAsync();
        var renewed = await operators.GetHostAsync(mac.HostId);

        Assert.True(acknowledged.Count == 1 && acknowledged[0].Command.IsIdentityRenewal && acknowledged[0].Answer == MacAnswer.Acknowledged,
            $"{mac}: the session before the restart handled [{string.Join(", ", acknowledged)}]");
        Assert.Equal("installed", Text(installed["identity"]!["renewal"], "status"));
        Assert.True(JsonNode.DeepEquals(installed["identity"], afterRestart!["identity"]),
            $"{mac}: identity before the restart {Show(installed["identity"])}, after {Show(afterRestart["identity"])}");
        Assert.Empty(presented);
        var identity = renewed["identity"];
        Assert.Equal(
            (Assert.Single(mac.Renewed).SerialNumber, old.SerialNumber, "valid"),
            (Text(identity, "serial_number"), Text(identity, "previous_serial_number"), Text(identity, "state")));
        Assert.True(identity!["renewal"] is null, $"{mac}: renewal still in flight: {Show(identity["renewal"])}");
        Assert.Equal("renewed", Text(identity["history"]!.AsArray()[^1], "step"));
    }

    /// <summary>The host, or null while the Api cannot reach the cluster (it answers 503 or fails the call then).</summary>
    private static async Task<JsonObject?> TryGetHostAsync(HttpClient operators, string hostId)
    {
        using var response = await operators.GetAsync($"/api/v1/hosts/{hostId}", TestAborted);

        return response.StatusCode == HttpStatusCode.OK
            ? await ExpectStatusAsync(response, HttpStatusCode.OK, $"GET host {hostId}")
            : null;
    }
}
