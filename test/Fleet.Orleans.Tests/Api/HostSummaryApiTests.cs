using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// Tests that compare fleet-wide counts. They run alone, after the parallel tests, so that only their
/// own hosts move the counts between a before and an after.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FleetWideCounts
{
    public const string Name = "Fleet-wide counts";
}

/// <summary>GET /api/v1/hosts/summary through the real Api: counts per status and platform move with hosts.</summary>
[Collection(FleetWideCounts.Name)]
public sealed class HostSummaryApiTests(ClusterFixture fixture)
{
    private static readonly string[] s_statusWords = ["none", "pending", "verifying", "verified", "failed"];

    // Hosts of earlier tests on the fast (non-macOS) policies may still be timing out; give them time to finish.
    private static readonly TimeSpan s_settle = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Summary_AsAHostEnrollsAndVerifies_CountsMoveByExactlyThatHost()
    {
        using var http = fixture.OperatorClient();
        await WaitUntilOnlyMacsAreInFlightAsync(http);
        var before = Counts(await SummaryAsync(http));

        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        await WaitForCountsAsync(http, agent.HostId, "enrolled", before.With(total: 1, none: 1, darwin: 1));
        (await http.RefetchAsync(agent.HostId)).Dispose();
        await WaitForCountsAsync(http, agent.HostId, "pending", before.With(total: 1, pending: 1, darwin: 1));
        var queries = await agent.ReadAsync();
        await WaitForCountsAsync(http, agent.HostId, "verifying", before.With(total: 1, verifying: 1, darwin: 1));
        Assert.Equal(HttpStatusCode.OK, await agent.WriteAsync(queries));

        await WaitForCountsAsync(http, agent.HostId, "verified", before.With(total: 1, verified: 1, darwin: 1));
    }

    [Fact]
    public async Task Summary_Always_ListsEveryStatusWordAndAddsUp()
    {
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        var summary = await SummaryAsync(http);

        var byStatus = summary["by_status"]!.AsObject();
        var words = byStatus.Select(s => s.Key).Order(StringComparer.Ordinal);
        Assert.Equal(s_statusWords.Order(StringComparer.Ordinal), words);
        var total = Int(summary, "total");
        var statusSum = byStatus.Sum(s => s.Value!.GetValue<int>());
        var platformSum = summary["by_platform"]!.AsObject().Sum(p => p.Value!.GetValue<int>());
        Assert.True(statusSum == total && platformSum == total,
            $"summary total {total}, but statuses add up to {statusSum} and platforms to {platformSum}");
    }

    [Fact]
    public async Task Summary_UnknownPlatformBucket_CountsWhatThePlatformFilterLists()
    {
        var identity = TestHostIdentity.New();
        using var agents = fixture.AgentClient();
        using var http = fixture.OperatorClient();
        var enroll = new JsonObject
        {
            ["enroll_secret"] = ApiFactory.EnrollSecret,
            ["host_identifier"] = identity.Uuid,
        };
        using var enrolled = await agents.PostJsonAsync("/api/osquery/enroll", enroll.ToJsonString());
        await ExpectStatusAsync(enrolled, HttpStatusCode.OK, $"enroll of host {identity.Uuid} without host_details");

        var (summarised, listed) = await EventuallyAsync(
            async () =>
            {
                var summary = await SummaryAsync(http);
                using var response = await http.GetAsync("/api/v1/hosts?platform=unknown&limit=1", TestAborted);
                var page = await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /api/v1/hosts?platform=unknown");

                return (Int(summary["by_platform"], "unknown") ?? 0, Int(page, "total") ?? 0);
            },
            counts => counts.Item1 >= 1 && counts.Item1 == counts.Item2,
            $"host {identity.Uuid} (no platform) counted alike by the summary and by ?platform=unknown",
            describe: counts => $"summary by_platform.unknown {counts.Item1}, list total {counts.Item2}");

        Assert.Equal(summarised, listed);
    }

    [Fact]
    public async Task Summary_WithoutToken_Returns401ProblemJson()
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync("/api/v1/hosts/summary", TestAborted);

        await ExpectUnauthorizedAsync(response, "anonymous GET /api/v1/hosts/summary");
    }

    private static async Task<JsonObject> SummaryAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/api/v1/hosts/summary", TestAborted);

        return await ExpectStatusAsync(response, HttpStatusCode.OK, "GET /api/v1/hosts/summary");
    }

    private static Task<SummaryCounts> WaitForCountsAsync(
        HttpClient http, string hostId, string phase, SummaryCounts expected) =>
        EventuallyAsync(
            async () => Counts(await SummaryAsync(http)),
            counts => counts == expected,
            $"host {hostId} {phase}: summary {expected}");

    /// <summary>
    /// Waits until every host still in flight is a Mac: their deadlines are minutes away, so nothing but
    /// this test's own host changes status while it compares counts.
    /// </summary>
    private static Task<int> WaitUntilOnlyMacsAreInFlightAsync(HttpClient http) =>
        EventuallyAsync(
            async () =>
            {
                var others = 0;
                foreach (var status in new[] { "pending", "verifying" })
                {
                    var rows = await http.ListRowsAsync($"status={status}&limit=500");
                    others += rows.Count(r => Text(r, "platform") != "darwin");
                }

                return others;
            },
            others => others == 0,
            "no host but Macs in flight",
            s_settle,
            others => $"{others} non-macOS hosts still pending or verifying");

    private static SummaryCounts Counts(JsonObject summary) => new(
        Int(summary, "total") ?? -1,
        Int(summary["by_status"], "none") ?? -1,
        Int(summary["by_status"], "pending") ?? -1,
        Int(summary["by_status"], "verifying") ?? -1,
        Int(summary["by_status"], "verified") ?? -1,
        Int(summary["by_status"], "failed") ?? -1,
        Int(summary["by_platform"], "darwin") ?? 0);

    /// <summary>The counts these tests compare: the total, each status, and the darwin platform.</summary>
    private sealed record SummaryCounts(
        int Total, int None, int Pending, int Verifying, int Verified, int Failed, int Darwin)
    {
        public SummaryCounts With(
            int total = 0,
            int none = 0,
            int pending = 0,
            int verifying = 0,
            int verified = 0,
            int failed = 0,
            int darwin = 0) =>
            new(
                Total + total,
                None + none,
                Pending + pending,
                Verifying + verifying,
                Verified + verified,
                Failed + failed,
                Darwin + darwin);
    }
}
