using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Fleet.Cli;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Cli;

/// <summary>
/// <c>fleet-orleans hosts …</c> run in-process against the real Api on the test cluster, with replayed
/// agents answering refetches. Each test puts its hosts in a team of its own, so filters see only them.
/// </summary>
public sealed class HostsCliTests(ClusterFixture fixture)
{
    private static readonly TimeSpan s_refetchLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task HostsList_WithAllAndASmallPage_FollowsEveryCursorAndShowsTheTotal()
    {
        var (team, agents) = await EnrollTeamAsync(5);

        var firstPage = await RunAsync("hosts", "list", "--team", team, "--limit", "2");
        var every = await RunAsync("hosts", "list", "--team", team, "--limit", "2", "--all");

        var ids = agents.Select(a => a.HostId).Order(StringComparer.Ordinal).ToList();
        Assert.True(firstPage.ExitCode == ExitCodes.Success, $"first page: {firstPage}");
        Assert.Equal(ids.Take(2), ids.Where(firstPage.Output.Contains));
        Assert.Contains("2 of 5 matching hosts; more with --all, or --cursor ", firstPage.Output, StringComparison.Ordinal);
        Assert.True(every.ExitCode == ExitCodes.Success, $"--all: {every}");
        Assert.Equal(ids, ids.Where(every.Output.Contains));
        Assert.Equal("5 of 5 matching hosts", CliRun.Lines(every.Output)[^1]);
    }

    [Fact]
    public async Task HostsList_WithStatusAndPlatformFilters_ListsOnlyTheMatchingHostsAsJson()
    {
        var (team, agents) = await EnrollTeamAsync(3);
        var verified = agents[1];
        using var http = fixture.OperatorClient();
        (await http.RefetchAsync(verified.HostId)).Dispose();
        await verified.WriteAsync(await verified.ReadAsync());
        await EventuallyAsync(
            () => http.ListRowsAsync($"team_id={team}&status=verified"), rows => rows.Count == 1, $"team {team}: one verified host in the index");

        var result = await RunAsync("hosts", "list", "--team", team, "--status", "verified", "--platform", "darwin", "--json");
        var wrongPlatform = await RunAsync("hosts", "list", "--team", team, "--platform", "linux", "--json");

        Assert.True(result.ExitCode == ExitCodes.Success, $"verified darwin hosts: {result}");
        var body = JsonNode.Parse(result.Output)!;
        Assert.Equal([verified.HostId], body["hosts"]!.AsArray().Select(h => Text(h, "host_id")));
        Assert.Equal(1, Int(body, "total"));
        Assert.Null(body["next_cursor"]);
        Assert.True(wrongPlatform.ExitCode == ExitCodes.Success, $"linux hosts: {wrongPlatform}");
        Assert.Equal(0, Int(JsonNode.Parse(wrongPlatform.Output), "total"));
    }

    [Fact]
    public async Task HostsRefetch_WithWait_FollowsTheHostUntilVerifiedAndExitsZero()
    {
        var (_, agents) = await EnrollTeamAsync(1);
        var agent = agents[0];
        using var http = fixture.OperatorClient();

        var run = RunAsync("hosts", "refetch", agent.HostId, "--wait", "--timeout", "30");
        await http.WaitForRefetchStatusAsync(agent.HostId, "pending", s_refetchLimit);
        await agent.WriteAsync(await agent.ReadAsync());
        var result = await run;

        Assert.True(result.ExitCode == ExitCodes.Success, $"host {agent.HostId}: {result}");
        var lines = CliRun.Lines(result.Output);
        Assert.Equal($"refetch of host {agent.HostId} (test-mac-01): epoch 1, pending", lines[0]);
        Assert.StartsWith($"verified: host {agent.HostId}, epoch 1, at ", lines[^1], StringComparison.Ordinal);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task HostsRefetch_WithWaitWhenTheAgentReportsErrors_PrintsTheReasonAndExitsOne()
    {
        const string message = "no such table: os_version";
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.Ubuntu);
        using var http = fixture.OperatorClient();

        var run = RunAsync("hosts", "refetch", agent.HostId, "--wait", "--timeout", "30");
        await http.WaitForRefetchStatusAsync(agent.HostId, "pending", s_refetchLimit);
        await agent.WriteAsync(await agent.ReadAsync(), "fleet_detail_query_os_version", message);
        await agent.WriteAsync(await agent.ReadAsync(), "fleet_detail_query_os_version", message);
        var result = await run;

        Assert.True(result.ExitCode == ExitCodes.Failed, $"host {agent.HostId}: {result}");
        var last = CliRun.Lines(result.Output)[^1];
        Assert.StartsWith($"failed: host {agent.HostId}, epoch 1: agent_error: ", last, StringComparison.Ordinal);
        Assert.Contains(message, last, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostsRefetch_WithWaitThatRunsOut_ExitsTwoSayingWhereTheRefetchStands()
    {
        var (_, agents) = await EnrollTeamAsync(1);
        var agent = agents[0];

        var result = await RunAsync("hosts", "refetch", agent.HostId, "--wait", "--timeout", "1");

        Assert.True(result.ExitCode == ExitCodes.UsageOrTimeout, $"host {agent.HostId}: {result}");
        Assert.Equal($"error: host {agent.HostId}'s refetch (epoch 1) is still pending after 1 s", result.Error.TrimEnd());
    }

    [Fact]
    public async Task HostsShow_ByHostId_ShowsTheHost()
    {
        var (team, agents) = await EnrollTeamAsync(1);
        var agent = agents[0];

        var result = await RunAsync("hosts", "show", agent.HostId.ToLowerInvariant());

        Assert.True(result.ExitCode == ExitCodes.Success, $"host {agent.HostId}: {result}");
        var lines = CliRun.Lines(result.Output).Select(CliRun.Cells).ToList();
        Assert.Equal($"host id | {agent.HostId}", lines[0]);
        Assert.Contains("matched by | host_id", lines);
        Assert.Contains($"serial | {agent.Identity.Serial}", lines);
        Assert.Contains($"team | {team}", lines);
        Assert.Contains("refetch | never requested", lines);
    }

    [Fact]
    public async Task Cli_WithAWrongToken_SaysUnauthorizedAndWhichTokenToGiveWithoutPrintingIt()
    {
        const string wrong = "not-a-token-of-this-api-0123";

        var result = await CliRun.RunAsync(
            ["hosts", "list", "--url", CliRun.InMemoryUrl],
            fixture.Api.Server.CreateHandler(),
            new Dictionary<string, string> { [ApiSettings.TokenVariable] = wrong });

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Equal(
            "error: Unauthorized: Send a valid operator token as 'Authorization: Bearer <token>'. (give a token with the observer " +
            "role to read, maintainer to change: --token, --token-file or FLEET_API_TOKEN)",
            result.Error.TrimEnd());
        Assert.DoesNotContain(wrong, result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostsRefetch_WithAnObserverTokenFromAFile_SaysAMaintainerIsNeeded()
    {
        var (_, agents) = await EnrollTeamAsync(1);
        var tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, ApiFactory.ObserverToken + "\n", TestAborted);
        try
        {
            var result = await CliRun.RunAsync(
                ["hosts", "refetch", agents[0].HostId, "--url", CliRun.InMemoryUrl, "--token-file", tokenFile],
                fixture.Api.Server.CreateHandler());

            Assert.Equal(ExitCodes.Failed, result.ExitCode);
            Assert.Equal(
                "error: Forbidden: This token's role may read but not change anything; a maintainer token is required. " +
                "(this needs a token with the maintainer role)",
                result.Error.TrimEnd());
            Assert.DoesNotContain(ApiFactory.ObserverToken, result.Output + result.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task Cli_WhenNothingListensAtTheUrl_SaysItCannotReachTheApiWithoutAStackTrace()
    {
        var port = ClosedLoopbackPort();

        var result = await CliRun.RunAsync(
            ["hosts", "list"],
            handler: null,
            new Dictionary<string, string>
            {
                [ApiSettings.UrlVariable] = $"http://127.0.0.1:{port}",
                [ApiSettings.TokenVariable] = ApiFactory.ObserverToken,
            });

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        var lines = CliRun.Lines(result.Error);
        Assert.Single(lines);
        Assert.StartsWith($"error: cannot reach the API at http://127.0.0.1:{port}/: ", lines[0], StringComparison.Ordinal);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task RefetchJobsStart_WithATeamFilterAndWait_FollowsTheRealJobUntilEveryHostVerified()
    {
        var (team, agents) = await EnrollTeamAsync(3);
        using var http = fixture.OperatorClient();

        var run = RunAsync("refetch-jobs", "start", "--team", team, "--rate", "20", "--wait", "--no-progress");
        foreach (var agent in agents)
        {
            await http.WaitForRefetchStatusAsync(agent.HostId, "pending", s_refetchLimit);
            await agent.WriteAsync(await agent.ReadAsync());
        }

        var result = await run;

        Assert.True(result.ExitCode == ExitCodes.Success, $"team {team}: {result}");
        var lines = CliRun.Lines(result.Output);
        Assert.Matches("^started job [0-9a-f]{32} at 20 refetches/s$", lines[0]);
        Assert.Contains(lines, l => l.EndsWith(": completed", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("completed: requested 3/3, terminal 3/3 (verified 3, failed 0, superseded 0)", StringComparison.Ordinal));
    }

    private Task<CliResult> RunAsync(params string[] args) =>
        CliRun.RunAsync(
            [.. args, "--url", CliRun.InMemoryUrl],
            fixture.Api.Server.CreateHandler(),
            new Dictionary<string, string> { [ApiSettings.TokenVariable] = ApiFactory.MaintainerToken });

    /// <summary>Enrolls macOS 14 agents into a fresh team and waits until the index lists all of them.</summary>
    private async Task<(string Team, List<TestAgent> Agents)> EnrollTeamAsync(int count)
    {
        var team = "cli-" + Guid.NewGuid().ToString("N")[..12];
        using var http = fixture.OperatorClient();
        var agents = new List<TestAgent>();
        for (var i = 0; i < count; i++)
        {
            var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
            using var moved = await http.PutAsync(
                $"/api/v1/hosts/{agent.HostId}/team", new StringContent($"{{\"team_id\":\"{team}\"}}", System.Text.Encoding.UTF8, "application/json"), TestAborted);
            await ExpectStatusAsync(moved, HttpStatusCode.OK, $"host {agent.HostId}: move to team {team}");
            agents.Add(agent);
        }

        await EventuallyAsync(() => http.ListRowsAsync($"team_id={team}"), rows => rows.Count == count, $"team {team}: {count} hosts in the index");

        return (team, agents);
    }

    private static int ClosedLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
