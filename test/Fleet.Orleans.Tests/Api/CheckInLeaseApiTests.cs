using Fleet.Api.Agents;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Tests.Api;

/// <summary>
/// Quiet check-ins through the Api: after one read that reached the host, the Api answers the agent's reads on
/// its own (the host's last-seen time stays where that read left it), and a refetch revokes that at once,
/// also when it reaches the host without passing through this Api.
/// </summary>
public sealed class CheckInLeaseApiTests(ClusterFixture fixture)
{
    [Fact]
    public async Task QuietReads_SkipTheHost_UntilARefetchMadeElsewhereRevokesTheLease()
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.Ubuntu);
        Assert.True(NodeKeys.TryParse(agent.NodeKey, out _, out var secret), $"host {agent.HostId}: node key {agent.NodeKey}");
        var host = fixture.Grains.GetGrain<IHostGrain>(agent.HostId);
        var leases = fixture.Api.Services.GetRequiredService<CheckInLeases>();

        var first = await agent.ReadAsync();
        var seenByFirst = (await host.GetAsync())!.LastSeenAt;
        var quiet = new List<IReadOnlyList<string>>();
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
            quiet.Add(await agent.ReadAsync());
        }

        var seenAfterQuiet = (await host.GetAsync())!.LastSeenAt;
        var coveredBeforeRefetch = leases.Covers(agent.HostId, secret);

        // Straight to the grain, as a bulk job or another Api process would: only the revocation tells this Api.
        await host.RequestRefetchAsync();
        var coveredAfterRefetch = leases.Covers(agent.HostId, secret);
        var owed = await agent.ReadAsync();

        Assert.Empty(first);
        Assert.All(quiet, Assert.Empty);
        Assert.Equal(seenByFirst, seenAfterQuiet);
        Assert.True(coveredBeforeRefetch, $"host {agent.HostId}: no lease held after a quiet read");
        Assert.False(coveredAfterRefetch, $"host {agent.HostId}: lease still held after the refetch answered");
        Assert.NotEmpty(owed);
    }

    [Fact]
    public async Task QuietRead_WithAnotherKeyOfTheHost_AsksTheHost()
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.Ubuntu);
        await agent.ReadAsync();

        using var forged = await agent.PostAsync(
            "/api/osquery/distributed/read", $$"""{"node_key":"{{agent.HostId}}:not-the-secret"}""");

        await ApiTestKit.ExpectNodeInvalidAsync(forged, $"host {agent.HostId}: read with a made-up key while a lease is held");
    }
}
