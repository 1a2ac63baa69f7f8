using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Scenarios;

/// <summary>A small fleet replaying real payloads through the Api, the way the simulator does.</summary>
public sealed class FleetRefetchScenarioTests(ClusterFixture fixture)
{
    [Fact]
    public async Task TwentyMacsAndFiveUbuntuHosts_Refetched_AllReachVerifiedWithTheirPayloadVitals()
    {
        using var agentHttp = fixture.Api.CreateClient();
        using var operatorHttp = fixture.Api.CreateOperatorClient();
        var profiles = Enumerable.Repeat(AgentProfile.MacOs14, 20).Concat(Enumerable.Repeat(AgentProfile.Ubuntu, 5));
        var agents = await Task.WhenAll(profiles.Select(p => TestAgent.EnrollAsync(agentHttp, p)));

        var accepted = await Task.WhenAll(agents.Select(a => operatorHttp.PostAsync($"/api/v1/hosts/{a.HostId}/refetch", null)));
        var answered = await Task.WhenAll(agents.Select(a => a.CheckInAsync()));
        var hosts = await Task.WhenAll(agents.Select(a => operatorHttp.GetFromJsonAsync<JsonObject>(
            $"/api/v1/hosts/{a.HostId}", TestContext.Current.CancellationToken)));

        Assert.All(accepted, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        Assert.All(answered, n => Assert.True(n >= 4, $"only {n} queries handed out"));
        for (var i = 0; i < agents.Length; i++)
        {
            var host = hosts[i]!;
            var status = host["refetch"]!["status"]!.GetValue<string>();
            Assert.True(status == "verified", $"host {agents[i].HostId}: expected verified, was {status}");
            Assert.Equal(agents[i].Identity.Serial, host["details"]!["serial"]!.GetValue<string>());
        }

        var mac = hosts[0]!["details"]!;
        Assert.Equal("14.1.2", mac["os_version"]!.GetValue<string>());
        Assert.Equal("23B92", mac["os_build"]!.GetValue<string>());
        Assert.Equal("darwin", mac["platform"]!.GetValue<string>());
        var ubuntu = hosts[^1]!["details"]!;
        Assert.Equal("linux", ubuntu["platform"]!.GetValue<string>());
        Assert.Equal("5.5.1", ubuntu["osquery_version"]!.GetValue<string>());
    }
}
