using System.Net;
using System.Net.Http.Json;
using Fleet.AgentSimulator.Mdm;
using Fleet.Contracts;
using Fleet.Grains;
using Fleet.Grains.Mdm;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Simulator;

public sealed class PushGatewayTests
{
    private static readonly MacFacts s_facts = new("14.1.2", "23B92", "SIM001000001", "sim-macos14-0001", "MacBook Pro", "MacBookPro11,4");

    [Fact]
    public async Task Push_ForAKnownToken_WakesThatMac()
    {
        var (gateway, mac) = await StartWithMacAsync(certificateExpired: false);
        await using var _ = gateway;

        var result = await SendAsync(gateway, Target(mac));
        var woken = await mac.WaitForWakeAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);

        Assert.Equal(PushResult.Sent, result);
        Assert.True(woken, "the Mac did not wake on the push");
        Assert.Equal((1, 0), (mac.PushesReceived, mac.PushesIgnored));
    }

    [Fact]
    public async Task Push_ForAnUnknownToken_Answers410Unregistered()
    {
        await using var gateway = await PushGateway.StartAsync(0, certificateExpired: false, TestContext.Current.CancellationToken);
        var mac = NewMac();
        using var http = new HttpClient();

        using var response = await http.PostAsJsonAsync(
            new Uri(gateway.Url, "3/device/" + mac.TokenHex), new { mdm = mac.PushMagic }, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
        Assert.Equal("""{"reason":"Unregistered"}""", body);
        Assert.Equal(1, gateway.Unregistered);
    }

    [Fact]
    public async Task Push_WhenTheCertificateHasExpired_Answers403AndWakesNobody()
    {
        var (gateway, mac) = await StartWithMacAsync(certificateExpired: true);
        await using var _ = gateway;

        var result = await SendAsync(gateway, Target(mac));

        Assert.Equal(
            PushResult.Failed(PushFailureKind.CertificateExpired, "push gateway refused the push certificate as expired (403 ExpiredProviderToken)"),
            result);
        Assert.Equal(0, mac.PushesReceived);
    }

    [Fact]
    public async Task Push_WithAnotherTopic_Answers400DeviceTokenNotForTopic()
    {
        var (gateway, mac) = await StartWithMacAsync(certificateExpired: false);
        await using var _ = gateway;

        var result = await SendAsync(gateway, Target(mac) with { Topic = "com.apple.mgmt.External.other" });

        Assert.Equal(PushResult.Failed(PushFailureKind.Rejected, "push gateway answered 400 DeviceTokenNotForTopic"), result);
        Assert.Equal(0, mac.PushesReceived);
    }

    private static async Task<(PushGateway Gateway, MacDevice Mac)> StartWithMacAsync(bool certificateExpired)
    {
        var gateway = await PushGateway.StartAsync(0, certificateExpired, TestContext.Current.CancellationToken);
        var mac = NewMac();
        gateway.Register(mac);

        return (gateway, mac);
    }

    private static MacDevice NewMac() =>
        new("00000001-0000-4000-8000-000000000001", s_facts, MdmBehaviour.Normal, new FakeTimeProvider());

    private static MdmPushTarget Target(MacDevice mac) => new(mac.TokenHex, mac.PushMagic, mac.Topic);

    // Through the service's own push sender, so both ends of the push agree on the wire format.
    private static async Task<PushResult> SendAsync(PushGateway gateway, MdmPushTarget target)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Fleet:Mdm:Push:GatewayUrl"] = gateway.Url.AbsoluteUri })
            .Build();
        await using var services = new ServiceCollection().AddLogging().AddFleetGrains(configuration).BuildServiceProvider();

        return await services.GetRequiredService<IPushSender>().SendAsync(target, TestContext.Current.CancellationToken);
    }
}
