using Fleet.AgentSimulator.Mdm;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Simulator;

/// <summary>
/// The simulator's MDM client against the real Api: a Mac whose identity comes from <see cref="TestPki.DeviceCa"/>,
/// the CA the test Api trusts when it checks certificates, signs its requests with <c>Mdm-Signature</c>, as behind
/// a load balancer.
/// </summary>
public sealed class SimulatedMacApiTests(ClusterFixture fixture)
{
    private static readonly MacFacts s_facts = new("14.1.2", "23B92", "SIM001000001", "sim-macos14-0001", "MacBook Pro", "MacBookPro11,4");

    [Fact]
    public async Task SignedMac_EnrollsAndRunsASession_ThroughTheApi()
    {
        Assert.True(DevicePki.TryLoad(TestPki.Folder, serverCertificate: false, TimeProvider.System, out var pki, out var error), error);
        var udid = Guid.NewGuid().ToString("D").ToUpperInvariant();
        var mac = new MacDevice(udid, s_facts, MdmBehaviour.Normal, TimeProvider.System, pki.Issue(udid, TimeSpan.FromDays(365)));
        using var http = fixture.AgentClient();
        using var transport = new SignedMdmTransport(http, http.BaseAddress!);
        var client = new MdmClient(transport);

        await client.EnrollAsync(mac, TestAborted);
        var commands = await client.RunSessionAsync(mac, TestAborted);

        var host = await fixture.OperatorClient().GetHostAsync(udid);
        Assert.True(host["mdm"]?["enrolled"]?.GetValue<bool>() == true, $"{udid}: not enrolled in MDM: {Show(host["mdm"])}");
        Assert.Equal(mac.Topic, Text(host["mdm"], "topic"));
        Assert.Equal((0, 0L, 0L), (commands, client.Unauthorized, client.Forbidden));
    }
}
