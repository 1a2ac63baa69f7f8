using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// GET /api/v1/hosts through the real Api. Every host of the assembly shares one index, so tests that
/// count exactly enroll their hosts under a platform name no other test uses.
/// </summary>
public sealed class HostListApiTests(ClusterFixture fixture)
{
    [Fact]
    public async Task List_PagedWithCursor_VisitsEveryMatchingHostExactlyOnceInOrder()
    {
        var platform = UniquePlatform();
        using var agents = fixture.AgentClient();
        var hostIds = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            hostIds.Add(await EnrollAsync(agents, platform));
        }

        using var http = fixture.OperatorClient();
        await WaitForTotalAsync(http, $"platform={platform}", 5);

        var pages = await http.ListPagesAsync($"platform={platform}&limit=2");

        var seen = pages.SelectMany(p => p["hosts"]!.AsArray().Select(h => Text(h, "host_id")!)).ToList();
        Assert.Equal([2, 2, 1], pages.Select(p => p["hosts"]!.AsArray().Count));
        Assert.All(pages, p => Assert.Equal(5, Int(p, "total")));
        Assert.Equal(hostIds.Order(StringComparer.Ordinal), seen);
        Assert.True(pages[^1]["next_cursor"] is null, $"platform {platform}: last page has a cursor: {Show(pages[^1])}");
    }

    [Fact]
    public async Task List_FilteredByStatusAndPlatform_ReturnsOnlyMatchingHostsAndCountsThem()
    {
        var platform = UniquePlatform();
        using var agents = fixture.AgentClient();
        var idle = new[] { await EnrollAsync(agents, platform), await EnrollAsync(agents, platform) };
        var verified = await EnrollAsync(agents, platform, verify: true);
        using var http = fixture.OperatorClient();

        var verifiedPage = await WaitForTotalAsync(http, $"platform={platform}&status=verified", 1);
        var nonePage = await WaitForTotalAsync(http, $"platform={platform}&status=NONE", 2);

        Assert.Equal([verified], verifiedPage["hosts"]!.AsArray().Select(h => Text(h, "host_id")));
        Assert.Equal(idle.Order(StringComparer.Ordinal), nonePage["hosts"]!.AsArray().Select(h => Text(h, "host_id")));
        var row = verifiedPage["hosts"]![0]!;
        Assert.Equal("verified", Text(row, "status"));
        Assert.Equal(platform, Text(row, "platform"));
        Assert.Equal("1.0", Text(row, "os_version"));
        Assert.Equal("list-" + verified[..8], Text(row, "hostname"));
        Assert.NotNull(row["status_changed_at"]);
    }

    [Fact]
    public async Task List_FilteredByOsVersion_MatchesTheVersionAndVersionsContinuingItAfterADot()
    {
        var platform = UniquePlatform();
        using var agents = fixture.AgentClient();
        var plain = new[] { await EnrollAsync(agents, platform), await EnrollAsync(agents, platform, osVersion: "1.0") };
        var patched = await EnrollAsync(agents, platform, osVersion: "1.0.1");
        var verified = await EnrollAsync(agents, platform, verify: true);
        var longer = await EnrollAsync(agents, platform, osVersion: "10.0");
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        await WaitForTotalAsync(http, $"platform={platform}", 5);

        var sameVersion = await http.ListRowsAsync($"platform={platform}&os_version=1.0");
        var patchVersion = await http.ListRowsAsync($"platform={platform}&os_version=1.0.1");
        var major = await http.ListRowsAsync($"platform={platform}&os_version=1");
        var majorTen = await http.ListRowsAsync($"platform={platform}&os_version=10");
        var partOfANumber = await http.ListRowsAsync($"platform={platform}&os_version=1.0.10");
        var verifiedOnVersion = await http.ListRowsAsync($"platform={platform}&os_version=1.0&status=verified");

        Assert.Equal(
            plain.Append(verified).Append(patched).Order(StringComparer.Ordinal),
            sameVersion.Select(r => Text(r, "host_id")));
        Assert.Equal([patched], patchVersion.Select(r => Text(r, "host_id")));
        Assert.Equal(
            plain.Append(verified).Append(patched).Order(StringComparer.Ordinal),
            major.Select(r => Text(r, "host_id")));
        Assert.Equal([longer], majorTen.Select(r => Text(r, "host_id")));
        Assert.True(partOfANumber.Count == 0, $"os_version=1.0.10 matched {Show(partOfANumber.FirstOrDefault())}");
        Assert.Equal([verified], verifiedOnVersion.Select(r => Text(r, "host_id")));
    }

    [Fact]
    public async Task List_FilteredByLastSeenBefore_KeepsHostsSeenStrictlyEarlier()
    {
        var platform = UniquePlatform();
        using var agents = fixture.AgentClient();
        var first = await EnrollAsync(agents, platform);
        var second = await EnrollAsync(agents, platform);
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        var rows = (await WaitForTotalAsync(http, $"platform={platform}", 2))["hosts"]!.AsArray();
        var seen = rows.ToDictionary(r => Text(r, "host_id")!, r => DateTimeOffset.Parse(Text(r, "last_seen_at")!, CultureInfo.InvariantCulture));
        Assert.True(seen[first] < seen[second], $"host {second} enrolled after {first} but was seen at {seen[second]:O}, not after {seen[first]:O}");

        var beforeFirst = await http.ListRowsAsync($"platform={platform}&last_seen_before={Time(seen[first])}");
        var beforeSecond = await http.ListRowsAsync($"platform={platform}&last_seen_before={Time(seen[second])}");
        var afterBoth = await http.ListRowsAsync($"platform={platform}&last_seen_before={Time(seen[second].AddTicks(10))}");
        var inAnotherZone = await http.ListRowsAsync(
            $"platform={platform}&last_seen_before={Time(seen[second].ToOffset(TimeSpan.FromHours(-5)))}");

        Assert.True(beforeFirst.Count == 0, $"last_seen_before {seen[first]:O} listed {Show(beforeFirst.FirstOrDefault())}");
        Assert.Equal([first], beforeSecond.Select(r => Text(r, "host_id")));
        Assert.Equal(new[] { first, second }.Order(StringComparer.Ordinal), afterBoth.Select(r => Text(r, "host_id")));
        Assert.Equal([first], inAnotherZone.Select(r => Text(r, "host_id")));
    }

    [Fact]
    public async Task List_WalkedPageByPageWhileHostsChange_SeesEveryLastingHostOnceInOrder()
    {
        var platform = UniquePlatform();
        using var agents = fixture.AgentClient();
        var lasting = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            lasting.Add(await EnrollAsync(agents, platform));
        }

        using var http = fixture.OperatorClient();
        await WaitForTotalAsync(http, $"platform={platform}", 20);
        var seen = new List<string>();
        var pages = 0;
        string? cursor = null;
        do
        {
            var url = $"/api/v1/hosts?platform={platform}&limit=3" + (cursor is null ? string.Empty : $"&cursor={cursor}");
            using var response = await http.GetAsync(url, TestAborted);
            var page = await ExpectStatusAsync(response, HttpStatusCode.OK, $"GET {url}");
            seen.AddRange(page["hosts"]!.AsArray().Select(h => Text(h, "host_id")!));
            cursor = Text(page, "next_cursor");
            pages++;

            // Between pages the fleet moves: a new host enrolls and a lasting one starts a refetch.
            await EnrollAsync(agents, platform);
            (await http.RefetchAsync(lasting[(pages * 7) % lasting.Count])).Dispose();
        }
        while (cursor is not null && pages < 100);

        var twice = seen.GroupBy(h => h, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        var missed = lasting.Except(seen, StringComparer.Ordinal).ToList();
        Assert.True(twice.Count == 0, $"platform {platform}: hosts listed twice while walking: {string.Join(", ", twice)}");
        Assert.True(missed.Count == 0, $"platform {platform}: lasting hosts never listed: {string.Join(", ", missed)}");
        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
    }

    [Fact]
    public async Task List_FilteredByStatus_ExcludesHostsInOtherStatuses()
    {
        using var agents = fixture.AgentClient();
        var pending = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        var idle = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        var linux = await TestAgent.EnrollAsync(agents, AgentProfile.Ubuntu);
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        using var maintainer = fixture.OperatorClient();
        (await maintainer.RefetchAsync(pending.HostId)).Dispose();

        var rows = await EventuallyAsync(
            () => http.ListRowsAsync("status=pending&platform=Darwin&limit=500"),
            rs => rs.Any(r => Text(r, "host_id") == pending.HostId),
            $"host {pending.HostId} listed as pending darwin",
            describe: rs => $"{rs.Count} rows");

        var stray = rows.Where(r => Text(r, "status") != "pending" || Text(r, "platform") != "darwin").ToList();
        Assert.True(
            stray.Count == 0,
            $"status=pending&platform=Darwin listed {stray.Count} other rows, first {Show(stray.FirstOrDefault())}");
        Assert.DoesNotContain(rows, r => Text(r, "host_id") == idle.HostId);
        Assert.DoesNotContain(rows, r => Text(r, "host_id") == linux.HostId);
    }

    [Fact]
    public async Task List_WithoutLimit_ReturnsAtMostFiftyHosts()
    {
        var platform = UniquePlatform();
        await EnrollAsync(fixture.AgentClient(), platform);
        using var http = fixture.OperatorClient();
        await WaitForTotalAsync(http, $"platform={platform}", 1);

        using var response = await http.GetAsync("/api/v1/hosts", TestAborted);

        var page = await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /api/v1/hosts");
        var count = page["hosts"]!.AsArray().Count;
        Assert.True(count is >= 1 and <= 50, $"default page held {count} hosts, expected 1 to 50");
        Assert.True(Int(page, "total") >= count, $"total {Int(page, "total")} is below the page's {count} hosts");
    }

    [Theory]
    [InlineData("status=bogus", "status")]
    [InlineData("status=", "status")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=-1", "limit")]
    [InlineData("limit=501", "limit")]
    [InlineData("limit=100000", "limit")]
    [InlineData("cursor=!!!not-base64!!!", "cursor")]
    [InlineData("cursor=AAAA", "cursor")]
    [InlineData("cursor=Li4vLi4vZXRjL3Bhc3N3ZA", "cursor")]
    [InlineData("platform=", "platform")]
    [InlineData("platform=0123456789012345678901234567890123", "platform")]
    [InlineData("os_version=", "os_version")]
    [InlineData("os_version=14.1%0A2", "os_version")]
    [InlineData("os_version=" + OverlongOsVersion, "os_version")]
    [InlineData("last_seen_before=", "last_seen_before")]
    [InlineData("last_seen_before=yesterday", "last_seen_before")]
    [InlineData("last_seen_before=2026-12-01", "last_seen_before")]
    [InlineData("last_seen_before=2026-12-01T00:00:00", "last_seen_before")]
    [InlineData("last_seen_before=2026-13-01T00:00:00Z", "last_seen_before")]
    [InlineData("last_seen_before=2026-12-01T00:00:00%2B25:00", "last_seen_before")]
    [InlineData("last_seen_before=%D9%A2026-12-01T00:00:00Z", "last_seen_before")]
    public async Task List_WithInvalidParameter_Returns400ProblemNamingIt(string query, string parameter)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.GetAsync($"/api/v1/hosts?{query}", TestAborted);

        await ExpectInvalidParameterAsync(response, parameter, $"GET /api/v1/hosts?{query}");
    }

    [Fact]
    public async Task List_WithOverlongCursor_Returns400ProblemNamingCursor()
    {
        using var http = fixture.OperatorClient();

        var cursor = new string('Q', 200);

        using var response = await http.GetAsync($"/api/v1/hosts?cursor={cursor}", TestAborted);

        await ExpectInvalidParameterAsync(response, "cursor", "GET /api/v1/hosts with a 200-character cursor");
    }

    [Theory]
    [InlineData("limit=ten")]
    [InlineData("limit=2147483648")]
    [InlineData("limit=1.5")]
    public async Task List_WithNonNumericLimit_Returns400ProblemNamingLimit(string query)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.GetAsync($"/api/v1/hosts?{query}", TestAborted);

        await ExpectInvalidParameterAsync(response, "limit", $"GET /api/v1/hosts?{query}");
    }

    [Fact]
    public async Task List_WithoutToken_Returns401ProblemJson()
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync("/api/v1/hosts", TestAborted);

        await ExpectUnauthorizedAsync(response, "anonymous GET /api/v1/hosts");
    }

    /// <summary>A time as a query value: round-trip ISO 8601 with its offset, '+' escaped.</summary>
    private static string Time(DateTimeOffset at) => Uri.EscapeDataString(at.ToString("O", CultureInfo.InvariantCulture));

    private const string OverlongOsVersion =
        "0123456789012345678901234567890123456789012345678901234567890123"
        + "01234567890123456789012345678901234567890123456789012345678901234";

    /// <summary>A platform name only this test's hosts report (osquery passes unknown platforms through).</summary>
    private static string UniquePlatform() => "t" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Enrolls a host of <paramref name="platform"/>, and if asked takes it through a refetch to verified.</summary>
    private async Task<string> EnrollAsync(HttpClient agents, string platform, bool verify = false, string osVersion = "1.0")
    {
        var hostId = TestHostIdentity.New().Uuid;
        var tables = Tables(hostId, platform, osVersion);
        var enroll = new JsonObject
        {
            ["enroll_secret"] = ApiFactory.EnrollSecret,
            ["host_details"] = tables.DeepClone(),
        };
        using var enrolled = await agents.PostJsonAsync("/api/osquery/enroll", enroll.ToJsonString());
        var nodeKey = Text(await ExpectStatusAsync(enrolled, HttpStatusCode.OK, $"enroll of {hostId}"), "node_key");
        if (!verify)
        {
            return hostId;
        }

        using var http = fixture.OperatorClient();
        (await http.RefetchAsync(hostId)).Dispose();
        var keyOnly = new JsonObject { ["node_key"] = nodeKey }.ToJsonString();
        using var read = await agents.PostJsonAsync("/api/osquery/distributed/read", keyOnly);
        await ExpectStatusAsync(read, HttpStatusCode.OK, $"read of host {hostId}");
        var queries = new JsonObject();
        var statuses = new JsonObject();
        foreach (var (table, row) in tables)
        {
            queries["fleet_detail_query_" + table] = new JsonArray(row!.DeepClone());
            statuses["fleet_detail_query_" + table] = 0;
        }

        var write = new JsonObject { ["node_key"] = nodeKey, ["queries"] = queries, ["statuses"] = statuses };
        using var written = await agents.PostJsonAsync("/api/osquery/distributed/write", write.ToJsonString());
        await ExpectStatusAsync(written, HttpStatusCode.OK, $"write of host {hostId}");
        var host = await http.GetHostAsync(hostId);
        Assert.True(
            Text(host["refetch"], "status") == "verified",
            $"host {hostId}: expected verified after its write, got {Show(host["refetch"])}");

        return hostId;
    }

    private static JsonObject Tables(string hostId, string platform, string osVersion) => new()
    {
        ["os_version"] = new JsonObject { ["name"] = "Test OS", ["version"] = osVersion, ["platform"] = platform },
        ["osquery_info"] = new JsonObject { ["version"] = "5.5.1" },
        ["system_info"] = new JsonObject { ["uuid"] = hostId.ToLowerInvariant(), ["hostname"] = "list-" + hostId[..8] },
        ["uptime"] = new JsonObject { ["total_seconds"] = "60" },
    };

    private static Task<JsonObject> WaitForTotalAsync(HttpClient http, string query, int total) =>
        EventuallyAsync(
            async () =>
            {
                using var response = await http.GetAsync($"/api/v1/hosts?{query}", TestAborted);

                return await ExpectStatusAsync(response, HttpStatusCode.OK, $"GET /api/v1/hosts?{query}");
            },
            page => Int(page, "total") == total,
            $"GET /api/v1/hosts?{query} counting {total}");
}
