using System.Net;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Security;

/// <summary>
/// The Api logs no secret at any level: enroll secrets, node keys and their secret half, operator tokens (valid or
/// not) and MDM push tokens appear in no message, structured value, scope or exception of any category at Trace.
/// </summary>
public sealed class SecretsInLogsTests(SecurityApiFixture fixture) : IClassFixture<SecurityApiFixture>
{
    private const string RefusedToken = "refused-operator-token-9876543210";
    private const string WrongEnrollSecret = "wrong-enroll-secret-5555";

    [Fact]
    public async Task AgentOperatorAndMdmFlows_LogNoSecret_AtTrace()
    {
        using var device = fixture.Client();
        using var maintainer = fixture.Client(ApiFactory.MaintainerToken);
        using var observer = fixture.Client(ApiFactory.ObserverToken);
        using var fromFile = fixture.Client(SecurityApiFixture.FileToken);
        using var refused = fixture.Client(RefusedToken);

        var agent = await TestAgent.EnrollAsync(device, AgentProfile.Ubuntu);
        using var refetch = await maintainer.RefetchAsync(agent.HostId);
        await agent.CheckInAsync();
        using var config = await agent.PostAsync("/api/osquery/config", agent.NodeKeyBody());
        using var log = await agent.PostAsync("/api/osquery/log", agent.NodeKeyBody());
        using var wrongSecret = await agent.PostAsync(
            "/api/osquery/enroll", Payloads.Osquery(AgentProfile.Ubuntu.EnrollFile, agent.Identity, WrongEnrollSecret));
        using var staleKey = await agent.PostAsync("/api/osquery/config", $"{{\"node_key\": \"{agent.HostId}:stale-node-secret-000\"}}");
        using var read = await observer.GetAsync($"/api/v1/hosts/{agent.HostId}", TestAborted);
        using var readFromFile = await fromFile.GetAsync("/api/v1/hosts/summary", TestAborted);
        using var refusedRead = await refused.GetAsync("/api/v1/hosts/summary", TestAborted);
        var mac = new HttpTestMac(device, AgentProfile.MacOs14, "secrets");
        await mac.EnrollAsync();
        using var macRefetch = await maintainer.RefetchAsync(mac.HostId);
        await mac.WakeAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.Accepted, refetch.StatusCode);
        Assert.Equal(HttpStatusCode.OK, config.StatusCode);
        Assert.Equal(HttpStatusCode.OK, log.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongSecret.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, staleKey.StatusCode);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal(HttpStatusCode.OK, readFromFile.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refusedRead.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, macRefetch.StatusCode);
        var secrets = new Dictionary<string, string>
        {
            ["node key"] = agent.NodeKey!,
            ["node secret"] = agent.NodeKey![(agent.NodeKey!.IndexOf(':', StringComparison.Ordinal) + 1)..],
            ["MDM Mac's node key"] = mac.Agent.NodeKey!,
            ["stale node secret"] = "stale-node-secret-000",
            ["enroll secret"] = ApiFactory.EnrollSecret,
            ["wrong enroll secret"] = WrongEnrollSecret,
            ["maintainer token"] = ApiFactory.MaintainerToken,
            ["observer token"] = ApiFactory.ObserverToken,
            ["file token"] = SecurityApiFixture.FileToken,
            ["refused token"] = RefusedToken,
            ["push token"] = mac.Token,
        };
        var records = fixture.Logs.Records;
        Assert.True(records.Count > 100, $"expected the flows to log at Trace, captured {records.Count} records");
        var leaks = records
            .SelectMany(r => secrets.Where(s => r.Mentions(s.Value)).Select(s => $"{s.Key} in {r.Category} event {r.EventId}: {r.Message}"))
            .ToList();
        Assert.True(leaks.Count == 0, string.Join(Environment.NewLine, leaks));
    }
}
