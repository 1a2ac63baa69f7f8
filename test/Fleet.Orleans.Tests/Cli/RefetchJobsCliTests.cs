using System.Text.Json.Nodes;
using Fleet.Cli;
using Spectre.Console.Testing;
using static Fleet.Tests.Cli.FakeJobApi;

namespace Fleet.Tests.Cli;

/// <summary>
/// <c>fleet-orleans refetch-jobs …</c> against <see cref="FakeJobApi"/>, a scripted stand-in for the job
/// endpoints on 127.0.0.1 that speaks the documented JSON and Server-Sent Events; also hosts show by serial,
/// whose identifier lookup lands with the index work.
/// </summary>
public sealed class RefetchJobsCliTests
{
    private static readonly JsonObject[] s_progressToDone =
    [
        Job("running", matched: 4, requested: 2, pending: 2, verifying: 0, verified: 0, failed: 0),
        Job("running", matched: 4, requested: 4, pending: 1, verifying: 1, verified: 2, failed: 0),
        Job("completed", matched: 4, requested: 4, pending: 0, verifying: 0, verified: 4, failed: 0),
    ];

    [Fact]
    public async Task Start_WithFiltersAndWait_PostsTheFilterFollowsTheStreamAndEndsWithTheOutcomes()
    {
        await using var api = await StartAsync(s_progressToDone);

        var result = await RunAsync(api, "refetch-jobs", "start", "--platform", "darwin", "--os-version", "15", "--rate", "200", "--wait");

        Assert.True(result.ExitCode == ExitCodes.Success, $"{result}");
        var post = Assert.Single(api.Requests, r => r.Method == "POST");
        Assert.Equal("/api/v1/refetch_jobs", post.Path);
        Assert.Equal("""{"filter":{"platform":"darwin","os_version":"15"},"rate":200}""", post.Body);
        Assert.DoesNotContain(api.Requests, r => r.Method == "GET" && !r.Path.EndsWith("/events", StringComparison.Ordinal));
        var lines = CliRun.Lines(result.Output);
        Assert.Equal($"started job {JobId} at 200 refetches/s", lines[0]);
        Assert.Contains($"job {JobId} running: requested 2/4, terminal 0/2 (verified 0, failed 0, superseded 0), 200/s, ETA 2026-12-01 09:01:10Z", lines);
        Assert.Contains($"job {JobId} running: requested 4/4, terminal 2/4 (verified 2, failed 0, superseded 0), 200/s, ETA 2026-12-01 09:01:10Z", lines);
        Assert.Contains($"job {JobId} completed: requested 4/4, terminal 4/4 (verified 4, failed 0, superseded 0), 200/s, ETA -", lines);
        Assert.Contains($"job {JobId}: completed", lines);
        AssertRow(lines, "verified", "4");
        AssertRow(lines, "failed", "0");
        AssertRow(lines, "duration", "42s");
    }

    [Fact]
    public async Task Start_WithHostIds_PostsTheDistinctIdsAndPrintsTheJobAsJson()
    {
        await using var api = await StartAsync(s_progressToDone);

        var result = await RunAsync(
            api, "refetch-jobs", "start", "--host-id", "0A1B2C3D-0000-4000-8000-000000000001",
            "--host-id", "0A1B2C3D-0000-4000-8000-000000000002", "--host-id", "0a1b2c3d-0000-4000-8000-000000000001", "--rate", "5", "--json");

        Assert.True(result.ExitCode == ExitCodes.Success, $"{result}");
        Assert.Equal(
            """{"host_ids":["0A1B2C3D-0000-4000-8000-000000000001","0A1B2C3D-0000-4000-8000-000000000002"],"rate":5}""",
            Assert.Single(api.Requests).Body);
        Assert.Equal(JobId, JsonNode.Parse(result.Output)!["job_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Status_WithWaitWhenTheStreamDrops_PollsUntilTheJobEndsAndExitsOneForFailedHosts()
    {
        JsonObject[] polls =
        [
            s_progressToDone[0],
            Job("draining", matched: 4, requested: 4, pending: 0, verifying: 1, verified: 2, failed: 1),
            Job("completed", matched: 4, requested: 4, pending: 0, verifying: 0, verified: 3, failed: 1),
        ];
        await using var api = await StartAsync(s_progressToDone[..2], StreamEnding.Drop, polls);

        var result = await RunAsync(api, "refetch-jobs", "status", JobId, "--wait");

        Assert.True(result.ExitCode == ExitCodes.Failed, $"{result}");
        Assert.Contains($"job {JobId}: completed", CliRun.Lines(result.Output));
        var gets = api.Requests.Where(r => r.Method == "GET").Select(r => r.Path).ToList();
        Assert.Equal([$"/api/v1/refetch_jobs/{JobId}", $"/api/v1/refetch_jobs/{JobId}/events"], gets[..2]);
        Assert.Equal(3, gets.Count(p => p == $"/api/v1/refetch_jobs/{JobId}"));
        var lines = CliRun.Lines(result.Output);
        Assert.Contains($"job {JobId} completed: requested 4/4, terminal 4/4 (verified 3, failed 1, superseded 0), 200/s, ETA - (polling)", lines);
        AssertRow(lines, "verified", "3");
        AssertRow(lines, "failed", "1");
    }

    [Fact]
    public async Task Start_WithWaitInterruptedByCtrlC_DetachesWithoutCancellingTheJob()
    {
        await using var api = await StartAsync(s_progressToDone[..1], StreamEnding.Hang);
        using var interrupt = new CancellationTokenSource();
        _ = api.FirstEventSent.ContinueWith(_ => interrupt.Cancel(), TaskScheduler.Default);

        var result = await RunAsync(api, interrupt.Token, "refetch-jobs", "start", "--status", "failed", "--wait");

        Assert.True(result.ExitCode == ExitCodes.Detached, $"{result}");
        Assert.Equal(
            $"detached; job {JobId} keeps running. Follow it with: fleet-orleans refetch-jobs status {JobId} --wait",
            CliRun.Lines(result.Output)[^1]);
        Assert.DoesNotContain(api.Requests, r => r.Method == "DELETE");
    }

    [Fact]
    public async Task Start_WithWaitInterruptedOnATerminalAndConfirmed_CancelsTheJob()
    {
        await using var api = await StartAsync(s_progressToDone[..1], StreamEnding.Hang);
        using var interrupt = new CancellationTokenSource();
        _ = api.FirstEventSent.ContinueWith(_ => interrupt.Cancel(), TaskScheduler.Default);

        var result = await CliRun.RunAsync(
            ["refetch-jobs", "start", "--wait", "--url", api.Url.ToString(), "--token", Token],
            configure: console => console.Interactive().Input.PushTextWithEnter("y"),
            interrupted: interrupt.Token);

        Assert.True(result.ExitCode == ExitCodes.Failed, $"{result}");
        Assert.Contains($"Cancel job {JobId}? (no leaves it running and only stops watching)", result.Output, StringComparison.Ordinal);
        var delete = Assert.Single(api.Requests, r => r.Method == "DELETE");
        Assert.Equal($"/api/v1/refetch_jobs/{JobId}", delete.Path);
        Assert.Contains($"job {JobId}: cancelled", CliRun.Lines(result.Output));
        Assert.DoesNotContain(Token, result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostsShow_BySerialSharedByTwoHosts_ShowsTheNewestAndListsTheOther()
    {
        const string newest = "0A1B2C3D-0000-4000-8000-00000000000A";
        const string older = "0A1B2C3D-0000-4000-8000-00000000000B";
        const string note = "2 hosts share serial C02XK1ZZJGH5; the most recently seen is returned.";
        var identifier = new JsonObject
        {
            ["host_id"] = newest,
            ["matched_by"] = "serial",
            ["host"] = new JsonObject
            {
                ["host_id"] = newest,
                ["details"] = new JsonObject { ["hostname"] = "mac-7", ["serial"] = "C02XK1ZZJGH5", ["platform"] = "darwin", ["os_version"] = "15.1" },
                ["enrolled_at"] = "2026-11-30T08:00:00Z",
                ["last_seen_at"] = "2026-12-01T08:00:00Z",
                ["refetch"] = null,
                ["os_settings"] = "none",
            },
            ["other_matches"] = new JsonArray(
                new JsonObject { ["host_id"] = older, ["hostname"] = "mac-7-old", ["serial"] = "C02XK1ZZJGH5", ["last_seen_at"] = "2026-10-01T08:00:00Z" }),
            ["note"] = note,
        };
        await using var api = await StartAsync(identifier);

        var result = await RunAsync(api, "hosts", "show", "C02XK1ZZJGH5");

        Assert.True(result.ExitCode == ExitCodes.Success, $"{result}");
        Assert.Equal("/api/v1/hosts/identifier/C02XK1ZZJGH5", Assert.Single(api.Requests).Path);
        var lines = CliRun.Lines(result.Output).Select(CliRun.Cells).ToList();
        Assert.Equal($"host id | {newest}", lines[0]);
        Assert.Contains("matched by | serial", lines);
        Assert.Contains("last seen | 2026-12-01 08:00:00Z", lines);
        Assert.Contains(note, lines);
        Assert.Contains($"{older} | mac-7-old | C02XK1ZZJGH5 | 2026-10-01 08:00:00Z", lines);
    }

    [Fact]
    public async Task Cancel_DeletesTheJobAndShowsItCancelled()
    {
        await using var api = await StartAsync(s_progressToDone[..2]);

        var result = await RunAsync(api, "refetch-jobs", "cancel", JobId.ToUpperInvariant());

        Assert.True(result.ExitCode == ExitCodes.Success, $"{result}");
        var delete = Assert.Single(api.Requests);
        Assert.Equal(("DELETE", $"/api/v1/refetch_jobs/{JobId}"), (delete.Method, delete.Path));
        Assert.Contains($"job {JobId}: cancelled", CliRun.Lines(result.Output));
    }

    [Fact]
    public async Task Start_WhenTheApiRefusesTheRequest_PrintsTheProblemAndExitsOne()
    {
        await using var api = await StartAsync(s_progressToDone, refuseWith: "rate must be between 1 and 5000.");

        var result = await RunAsync(api, "refetch-jobs", "start", "--team", "t1");

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Equal("error: Invalid request: rate must be between 1 and 5000.", result.Error.TrimEnd());
        Assert.Equal("", result.Output);
    }

    [Theory]
    [InlineData("refetch-jobs start --team t1 --host-id 0A1B2C3D-0000-4000-8000-000000000001", "error: give --host-id or filters, not both")]
    [InlineData("refetch-jobs start --rate 0", "error: --rate must be between 1 and 5000")]
    [InlineData("refetch-jobs status 12345", "error: '12345' is not a job id (32 hex digits)")]
    [InlineData("hosts list --last-seen-before yesterday", "error: --last-seen-before 'yesterday' is not an ISO 8601 time with an offset, e.g. 2026-12-01T00:00:00Z")]
    public async Task Commands_WithBadArguments_ExplainAndExitTwoWithoutAsking(string args, string error)
    {
        await using var api = await StartAsync(s_progressToDone);

        var result = await RunAsync(api, args.Split(' '));

        Assert.Equal(ExitCodes.UsageOrTimeout, result.ExitCode);
        Assert.Equal(error, result.Error.TrimEnd());
        Assert.Empty(api.Requests);
    }

    private static Task<CliResult> RunAsync(FakeJobApi api, params string[] args) => RunAsync(api, null, args);

    private static Task<CliResult> RunAsync(FakeJobApi api, CancellationToken? interrupt, params string[] args) =>
        CliRun.RunAsync(
            [.. args, "--url", api.Url.ToString()],
            handler: null,
            new Dictionary<string, string> { [ApiSettings.TokenVariable] = Token },
            interrupted: interrupt);

    private static void AssertRow(string[] lines, string outcome, string hosts) =>
        Assert.True(
            lines.Any(l => l.Split('│', StringSplitOptions.TrimEntries) is [_, var o, var h, _] && o == outcome && h == hosts),
            $"expected an outcome row '{outcome}' with {hosts} hosts in:\n{string.Join('\n', lines)}");
}
