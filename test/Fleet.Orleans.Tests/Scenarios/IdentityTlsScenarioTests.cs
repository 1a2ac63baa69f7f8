using Fleet.Tests.Identity;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;
using static Fleet.Tests.Identity.ApiIdentityKit;

namespace Fleet.Tests.Scenarios;

/// <summary>
/// A renewal where the Mac presents its identity only as its TLS client certificate, to the Api on a real Kestrel
/// HTTPS port (<see cref="ApiTlsFixture"/>), on the shared cluster: the renewed PKCS#12 travels over TLS, and the
/// Mac's next connection presents the new certificate in its handshake.
/// </summary>
public sealed class IdentityTlsScenarioTests(ApiTlsFixture tls, ClusterFixture cluster) : IClassFixture<ApiTlsFixture>
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Renewal_OverTlsClientCertificates_TheNextConnectionPresentsTheRenewedIdentity()
    {
        HttpTestMac? mac = null;
        using var device = tls.Device(() => mac?.Identity, reuseConnections: false);
        using var operators = cluster.OperatorClient(ApiFactory.ObserverToken);
        mac = new HttpTestMac(device, AgentProfile.MacOs15, "tls") { SignsRequests = false };
        mac.Identity = TestPki.Identity(mac.HostId, notAfter: DateTimeOffset.UtcNow.AddDays(10));
        await mac.EnrollAsync();
        var old = mac.Identity;

        var renewal = await mac.WakeAsync(s_wait);
        var presented = await mac.SessionAsync();
        var host = await operators.GetHostAsync(mac.HostId);

        Assert.True(renewal.Count == 1 && renewal[0].Command.IsIdentityRenewal && renewal[0].Answer == MacAnswer.Acknowledged,
            $"{mac}: the renewal session handled [{string.Join(", ", renewal)}]");
        Assert.Empty(presented);
        var identity = host["identity"];
        Assert.Equal(
            (Assert.Single(mac.Renewed).SerialNumber, old.SerialNumber, "valid"),
            (Text(identity, "serial_number"), Text(identity, "previous_serial_number"), Text(identity, "state")));
        Assert.Equal(
            ["recorded", "renewal_queued", "issued", "installed", "renewed"],
            identity!["history"]!.AsArray().Select(e => Text(e, "step")));
        Assert.DoesNotContain(Refusals(tls.Logs), l => l.Message.Contains(mac.HostId, StringComparison.Ordinal));
    }
}
