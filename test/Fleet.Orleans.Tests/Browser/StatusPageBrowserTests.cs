using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using Microsoft.Playwright;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Browser;

/// <summary>
/// The status page in a real headless Chromium against the real Api and a test cluster. Updates must
/// arrive over the event stream: no test reloads a page to see a change, and one checks that none happened.
/// </summary>
public sealed class StatusPageBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private const string TokenKey = "fleet.operator-token";

    /// <summary>Long enough for a change to travel grain, index, event stream and page on a busy CI machine.</summary>
    private static readonly LocatorAssertionsToHaveTextOptions s_live = new() { Timeout = 15_000 };

    [Fact]
    public async Task StatusPage_OpenedWithToken_ShowsCountsChartsHostsAndLinks()
    {
        using var agents = fixture.Http();
        var mac = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        var page = await fixture.NewPageAsync();
        var errors = CollectErrors(page);

        await SignInAsync(page, ApiFactory.MaintainerToken);

        await Assertions.Expect(page.Locator($"#host-list tr[data-host-id='{mac.HostId}']")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        var summary = await SummaryAsync();
        await Assertions.Expect(page.Locator("#total")).ToHaveTextAsync($"({summary["total"]} in all)", s_live);
        await Assertions.Expect(page.Locator("#count-none b")).ToHaveTextAsync($"{summary["by_status"]!["none"]}", s_live);
        await Assertions.Expect(page.Locator("#platform-chart rect[data-label='darwin']"))
            .ToHaveAttributeAsync("data-count", $"{summary["by_platform"]!["darwin"]}");
        await Assertions.Expect(page.Locator("#status-chart rect")).ToHaveCountAsync(5);
        await Assertions.Expect(page.Locator("#dashboard-link")).ToHaveAttributeAsync("href", BrowserFixture.DashboardUrl);
        await Assertions.Expect(page.Locator("a[href='/docs']")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#live")).ToHaveTextAsync("live", s_live);
        Assert.True(errors.Count == 0, $"the status page logged errors: {string.Join(" | ", errors)}");
    }

    [Fact]
    public async Task StatusPage_WithBadToken_SaysTheTokenWasRefusedAndForgetsIt()
    {
        var page = await fixture.NewPageAsync();

        await page.GotoAsync("/");
        await page.FillAsync("#token-input", "not-an-operator-token-0123");
        await page.ClickAsync("#sign-in-form button[type=submit]");

        await Assertions.Expect(page.Locator("#sign-in-error")).ToContainTextAsync(
            "The operator token was refused (401 Unauthorized)");
        await Assertions.Expect(page.Locator("#overview")).ToBeHiddenAsync();
        Assert.Null(await page.EvaluateAsync<string?>($"() => sessionStorage.getItem('{TokenKey}')"));
    }

    [Fact]
    public async Task HostPage_Refetch_ShowsPendingVerifyingVerifiedLiveWithoutReload()
    {
        using var agents = fixture.Http();
        var (agent, page) = await OpenNewHostAsync(agents, ApiFactory.MaintainerToken);
        await Assertions.Expect(page.Locator("#live")).ToHaveTextAsync("live", s_live);
        await page.EvaluateAsync("() => { window.fleetTestMarker = 'same document'; }");
        var status = page.Locator("#host-status");

        await page.ClickAsync("#refetch");
        await Assertions.Expect(status).ToHaveTextAsync("pending", s_live);
        var queries = await agent.ReadAsync();
        await Assertions.Expect(status).ToHaveTextAsync("verifying", s_live);
        Assert.Equal(HttpStatusCode.OK, await agent.WriteAsync(queries));

        await Assertions.Expect(status).ToHaveTextAsync("verified", s_live);
        await Assertions.Expect(page.Locator("#progress li[data-step='done']")).ToHaveAttributeAsync("data-state", "verified");
        await Assertions.Expect(page.Locator("#timeline tbody tr")).ToHaveCountAsync(3, new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#timeline tbody tr").First).ToHaveAttributeAsync("data-to", "verified");
        await Assertions.Expect(page.Locator("#refetch-message")).ToContainTextAsync("Refetch epoch 1 verified at ");
        await Assertions.Expect(page.Locator("#vitals dd[data-fact='OS version']")).ToHaveTextAsync("14.1.2");
        await Assertions.Expect(page.Locator("#vitals dd[data-fact='Serial']")).ToHaveTextAsync(agent.Identity.Serial);
        Assert.Equal("same document", await page.EvaluateAsync<string?>("() => window.fleetTestMarker"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotFolder, "host-page.png"), FullPage = true });
    }

    [Fact]
    public async Task HostPage_RefetchWithObserverToken_ShowsTheRefusal()
    {
        using var agents = fixture.Http();
        var (_, page) = await OpenNewHostAsync(agents, ApiFactory.ObserverToken);

        await page.ClickAsync("#refetch");

        await Assertions.Expect(page.Locator("#host-error")).ToContainTextAsync("(403)");
        await Assertions.Expect(page.Locator("#host-error")).ToContainTextAsync("a maintainer token is required");
        await Assertions.Expect(page.Locator("#host-status")).ToHaveTextAsync("none");
    }

    [Fact]
    public async Task HostPage_WhileItsHostDoesNotChange_SendsNoRequests()
    {
        using var agents = fixture.Http();
        var (agent, page) = await OpenNewHostAsync(agents, ApiFactory.ObserverToken);
        await Assertions.Expect(page.Locator("#live")).ToHaveTextAsync("live", s_live);
        var requests = new ConcurrentQueue<string>();
        page.Request += (_, request) => requests.Enqueue(request.Url);

        // Past the reload the stream's ready event asks for (throttled to one a second), then a quiet spell.
        await Task.Delay(TimeSpan.FromSeconds(1.5), TestAborted);
        var settled = requests.Count;
        await Task.Delay(TimeSpan.FromSeconds(3), TestAborted);

        var quiet = requests.Skip(settled).ToList();
        Assert.True(quiet.Count == 0, $"host page of {agent.HostId} sent requests while nothing changed: {string.Join(", ", quiet)}");
    }

    [Fact]
    public async Task StatusPage_SilentHostRefetched_ListsItStuckThenFailedWithItsReason()
    {
        using var agents = fixture.Http();
        var silent = await TestAgent.EnrollAsync(agents, AgentProfile.Ubuntu);
        var page = await fixture.NewPageAsync();
        await SignInAsync(page, ApiFactory.MaintainerToken);
        await Assertions.Expect(page.Locator("#live")).ToHaveTextAsync("live", s_live);
        using var http = fixture.Http(ApiFactory.MaintainerToken);

        (await http.RefetchAsync(silent.HostId)).Dispose();

        var stuck = page.Locator($"#stuck tr[data-host-id='{silent.HostId}']");
        await Assertions.Expect(stuck).ToBeVisibleAsync(new() { Timeout = 10_000 });
        var failed = page.Locator($"#failed tr[data-host-id='{silent.HostId}'] .reason");
        await Assertions.Expect(failed).ToContainTextAsync("agent_silent", new() { Timeout = 30_000 });
        await Assertions.Expect(failed).ToContainTextAsync("did not ask for its detail queries");
        await Assertions.Expect(stuck).ToHaveCountAsync(0, new() { Timeout = 15_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.ScreenshotFolder, "status-page.png"), FullPage = true });
    }

    [Fact]
    public async Task StatusPage_Filters_ListOnlyMatchingHostsAndSurviveAReloadOfTheSharedUrl()
    {
        var team = "browser-" + Guid.NewGuid().ToString("N")[..8];
        using var agents = fixture.Http();
        using var http = fixture.Http(ApiFactory.MaintainerToken);
        var verifiedMac = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        var idleMac = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        var newerMac = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs15);
        var linux = await TestAgent.EnrollAsync(agents, AgentProfile.Ubuntu);
        foreach (var agent in new[] { verifiedMac, idleMac, newerMac, linux })
        {
            using var moved = await http.PutAsJsonAsync($"/api/v1/hosts/{agent.HostId}/team", new { team_id = team }, TestAborted);
            await ExpectStatusAsync(moved, HttpStatusCode.OK, $"team of {agent.HostId}");
        }

        (await http.RefetchAsync(verifiedMac.HostId)).Dispose();
        await verifiedMac.CheckInAsync();
        var newerVersion = Text((await http.GetHostAsync(newerMac.HostId))["details"], "os_version")!;
        await EventuallyAsync(
            () => http.ListRowsAsync($"team_id={team}&status=verified"),
            rows => rows.Count == 1,
            $"team {team} listing its verified host");
        var page = await fixture.NewPageAsync();
        await SignInAsync(page, ApiFactory.MaintainerToken);
        await Assertions.Expect(page.Locator("#filters select[name=platform] option[value=darwin]")).ToBeAttachedAsync();

        await page.SelectOptionAsync("#filters select[name=status]", "verified");
        await page.SelectOptionAsync("#filters select[name=platform]", "darwin");
        await page.FillAsync("#filters input[name=os_version]", "14.1.2");
        await page.FillAsync("#filters input[name=team_id]", team);
        await page.ClickAsync("#filters button[type=submit]");

        await ExpectRowsAsync(page, verifiedMac.HostId);
        Assert.EndsWith($"#/?status=verified&platform=darwin&os_version=14.1.2&team_id={team}", page.Url, StringComparison.Ordinal);
        await page.ReloadAsync();
        await ExpectRowsAsync(page, verifiedMac.HostId);
        await Assertions.Expect(page.Locator("#filters select[name=status]")).ToHaveValueAsync("verified");
        await Assertions.Expect(page.Locator("#filters input[name=team_id]")).ToHaveValueAsync(team);
        await page.GotoAsync($"/#/?team_id={team}");
        await ExpectRowsAsync(page, verifiedMac.HostId, idleMac.HostId, newerMac.HostId, linux.HostId);
        await page.GotoAsync($"/#/?team_id={team}&platform=linux");
        await ExpectRowsAsync(page, linux.HostId);
        await page.GotoAsync($"/#/?team_id={team}&os_version={Uri.EscapeDataString(newerVersion)}");
        await ExpectRowsAsync(page, newerMac.HostId);
        await page.GotoAsync($"/#/?team_id={team}&status=none&platform=darwin");
        await ExpectRowsAsync(page, idleMac.HostId, newerMac.HostId);
    }

    /// <summary>Opens the page and signs in; the overview must then show.</summary>
    private static async Task SignInAsync(IPage page, string token)
    {
        await page.GotoAsync("/");
        await page.FillAsync("#token-input", token);
        await page.ClickAsync("#sign-in-form button[type=submit]");
        await Assertions.Expect(page.Locator("#overview")).ToBeVisibleAsync();
    }

    /// <summary>Enrolls a macOS 14 host and opens its page, signed in with <paramref name="token"/>.</summary>
    private async Task<(TestAgent Agent, IPage Page)> OpenNewHostAsync(HttpClient agents, string token)
    {
        var agent = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        var page = await fixture.NewPageAsync();
        await SignInAsync(page, token);
        await page.GotoAsync($"/#/hosts/{agent.HostId}");
        await Assertions.Expect(page.Locator("#host-title")).ToContainTextAsync(agent.HostId);
        await Assertions.Expect(page.Locator("#host-status")).ToHaveTextAsync("none");

        return (agent, page);
    }

    /// <summary>The host list shows exactly these hosts, in host-id order.</summary>
    private static async Task ExpectRowsAsync(IPage page, params string[] hostIds)
    {
        const string Shown = "[...document.querySelectorAll('#host-list tbody tr[data-host-id]')].map(r => r.dataset.hostId).join(' ')";
        var expected = string.Join(' ', hostIds.Order(StringComparer.Ordinal));
        try
        {
            // The table may still hold the previous filter's rows, so wait for these rather than count rows.
            await page.WaitForFunctionAsync($"expected => ({Shown}) === expected", expected, new() { Timeout = 15_000 });
        }
        catch (PlaywrightException)
        {
            Assert.Fail($"host list at {page.Url}: expected '{expected}', shows '{await page.EvaluateAsync<string>($"() => {Shown}")}'");
        }
    }

    /// <summary>Script errors and console errors, which include Content-Security-Policy violations.</summary>
    private static List<string> CollectErrors(IPage page)
    {
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Add(error);

        return errors;
    }

    private async Task<JsonObject> SummaryAsync()
    {
        using var http = fixture.Http(ApiFactory.MaintainerToken);
        using var response = await http.GetAsync("/api/v1/hosts/summary", TestAborted);

        return await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /api/v1/hosts/summary");
    }
}
