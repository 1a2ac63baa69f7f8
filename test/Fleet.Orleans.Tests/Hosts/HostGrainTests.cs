using Fleet.Contracts;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Hosts;

/// <summary>The host grain on a real (test) cluster with Azurite storage, driven through the grain interface.</summary>
public sealed class HostGrainTests(ClusterFixture fixture)
{
    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_ubuntu = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "ubuntu", ["version"] = "22.04.1 LTS", ["name"] = "Ubuntu" },
        ["system_info"] = new Dictionary<string, string> { ["hostname"] = "grain-test", ["hardware_serial"] = "GRAIN01" },
    };

    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_mac14 = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "14.1.2", ["name"] = "Mac OS X" },
    };

    private IHostGrain NewHost(out string hostId)
    {
        hostId = Guid.NewGuid().ToString().ToUpperInvariant();

        return fixture.Grains.GetGrain<IHostGrain>(hostId);
    }

    private static string Secret(EnrollResult result) => result.NodeKey[(result.NodeKey.IndexOf(':', StringComparison.Ordinal) + 1)..];

    private static DetailResults Answers(params string[] names) => new(
        names.ToDictionary(n => n, IReadOnlyList<IReadOnlyDictionary<string, string>> (n) => [new Dictionary<string, string> { ["version"] = "1" }]),
        names.ToDictionary(n => n, _ => 0),
        new Dictionary<string, string>());

    private static readonly string[] s_required = ["os_version", "osquery_info", "system_info", "uptime"];

    [Fact]
    public async Task Refetch_OnUnknownHost_ReportsUnknownAndWritesNothing()
    {
        var host = NewHost(out _);

        var result = await host.RequestRefetchAsync();

        Assert.Equal(RefetchOutcome.UnknownHost, result.Outcome);
        Assert.Null(await host.GetAsync());
    }

    [Fact]
    public async Task Enroll_Again_InvalidatesTheOldNodeKeyAndKeepsOneHost()
    {
        var host = NewHost(out var hostId);
        var first = await host.EnrollAsync(new EnrollRequest(s_ubuntu));
        var enrolledAt = (await host.GetAsync())!.EnrolledAt;

        var second = await host.EnrollAsync(new EnrollRequest(s_ubuntu));

        Assert.NotEqual(first.NodeKey, second.NodeKey);
        Assert.StartsWith(hostId + ":", second.NodeKey, StringComparison.Ordinal);
        Assert.False((await host.ReadAsync(Secret(first))).NodeValid, $"host {hostId}: old node key still accepted");
        Assert.True((await host.ReadAsync(Secret(second))).NodeValid, $"host {hostId}: new node key refused");
        Assert.Equal(enrolledAt, (await host.GetAsync())!.EnrolledAt);
    }

    [Fact]
    public async Task ReadRequestStaleWrite_KeepsHostPendingUntilAReadAfterTheRequest()
    {
        var host = NewHost(out var hostId);
        var secret = Secret(await host.EnrollAsync(new EnrollRequest(s_mac14)));

        var before = await host.ReadAsync(secret);
        var requested = await host.RequestRefetchAsync();
        await host.WriteAsync(secret, Answers(s_required));
        var afterStaleWrite = (await host.GetAsync())!.Refetch!;
        var handedOut = await host.ReadAsync(secret);
        await host.WriteAsync(secret, Answers(s_required));
        var done = (await host.GetAsync())!.Refetch!;

        Assert.Empty(before.Queries);
        Assert.Equal(RefetchStatus.Pending, requested.Refetch!.Status);
        Assert.True(afterStaleWrite.Status == RefetchStatus.Pending, $"host {hostId}: stale write moved epoch to {afterStaleWrite.Status}");
        Assert.Contains(DetailQueryNames.Prefix + "os_version", handedOut.Queries.Keys);
        Assert.Equal(RefetchStatus.Verified, done.Status);
        Assert.Equal(requested.Refetch.Epoch, done.Epoch);
    }

    [Fact]
    public async Task Refetch_RepeatedWhileInFlight_KeepsEpochAndDeadline()
    {
        var host = NewHost(out _);
        await host.EnrollAsync(new EnrollRequest(s_mac14));

        var first = await host.RequestRefetchAsync();
        var second = await host.RequestRefetchAsync();

        Assert.Equal(RefetchOutcome.Started, first.Outcome);
        Assert.Equal(RefetchOutcome.AlreadyInFlight, second.Outcome);
        Assert.Equal(first.Refetch, second.Refetch);
    }

    [Fact]
    public async Task Refetch_WhenAgentNeverChecksIn_FailsAtFinalDeadlineWithReason()
    {
        var host = NewHost(out var hostId);
        await host.EnrollAsync(new EnrollRequest(s_ubuntu));
        var requested = (await host.RequestRefetchAsync()).Refetch!;

        var failed = await WaitForTerminalAsync(host, TimeSpan.FromSeconds(15));

        Assert.Equal(RefetchStatus.Failed, failed.Refetch!.Status);
        Assert.Equal(ReasonCodes.AgentSilent, failed.Refetch.Reason!.Code);
        Assert.Equal(2, failed.Refetch.Attempt);
        // Attempt 1: 2 s pickup. Attempt 2: 2 s pickup + 0.5 s backoff. Timers fire within a second of each deadline.
        var finalDeadline = requested.RequestedAt + TimeSpan.FromSeconds(4.5);
        var lateness = failed.Refetch.CompletedAt!.Value - finalDeadline;
        Assert.True(lateness >= TimeSpan.Zero && lateness < TimeSpan.FromSeconds(2),
            $"host {hostId}: failed {lateness.TotalMilliseconds:F0} ms after its final deadline");
        Assert.Equal(
            [RefetchStatus.Pending, RefetchStatus.Pending, RefetchStatus.Failed],
            failed.Transitions.Select(t => t.To).ToArray());
    }

    [Fact]
    public async Task Refetch_Retry_KeepsTheTimeTheHostBecamePending()
    {
        var host = NewHost(out var hostId);
        await host.EnrollAsync(new EnrollRequest(s_ubuntu));
        await host.RequestRefetchAsync();
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(15));

        // Attempt 2 lasts 2.5 s: the retry is seen while the host is still pending.
        var retried = (await host.GetAsync())!;
        while (retried.Transitions.Count < 2)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellation.Token);
            retried = (await host.GetAsync())!;
        }

        var shard = fixture.Grains.GetGrain<IHostIndexShardGrain>(HostIndex.ShardOf(hostId));
        HostIndexEntry? entry = null;
        while (entry?.Revision != retried.Revision)
        {
            var page = await shard.QueryAsync(new HostQuery(null, null, null, 100_000));
            entry = page.Entries.SingleOrDefault(e => e.HostId == hostId);
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellation.Token);
        }

        Assert.Equal([RefetchStatus.Pending, RefetchStatus.Pending], retried.Transitions.Select(t => t.To).ToArray());
        Assert.Equal(RefetchStatus.Pending, entry.Status);
        Assert.Equal(retried.Transitions[0].At, entry.StatusChangedAt);
        Assert.True(retried.Transitions[1].At > entry.StatusChangedAt, "the retry came later than the request");
    }

    [Fact]
    public async Task Write_WithQueryError_OnLastAttempt_FailsWithTheAgentMessage()
    {
        var host = NewHost(out _);
        var windows = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["os_version"] = new Dictionary<string, string> { ["platform"] = "windows", ["version"] = "10.0.22631" },
        };
        var secret = Secret(await host.EnrollAsync(new EnrollRequest(windows)));
        await host.RequestRefetchAsync();
        await host.ReadAsync(secret);

        var results = Answers(s_required) with
        {
            Statuses = new Dictionary<string, int> { ["os_version"] = 1, ["osquery_info"] = 0, ["system_info"] = 0, ["uptime"] = 0 },
            Messages = new Dictionary<string, string> { ["os_version"] = "no such table: os_version" },
        };
        await host.WriteAsync(secret, results);
        var view = (await host.GetAsync())!;

        Assert.Equal(RefetchStatus.Failed, view.Refetch!.Status);
        Assert.Equal(ReasonCodes.AgentError, view.Refetch.Reason!.Code);
        Assert.Contains("no such table: os_version", view.Refetch.Reason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckIns_ThatChangeNothing_WriteNothingToStorage()
    {
        var host = NewHost(out var hostId);
        var secret = Secret(await host.EnrollAsync(new EnrollRequest(s_mac14)));
        await host.RequestRefetchAsync();
        await host.ReadAsync(secret);
        await host.WriteAsync(secret, Answers(s_required));
        var before = (await host.GetAsync())!.Revision;

        for (var i = 0; i < 20; i++)
        {
            Assert.True((await host.ReadAsync(secret)).NodeValid);
            Assert.True(await host.GetConfigAsync(secret));
            Assert.True(await host.LogAsync(secret));
            Assert.True(await host.WriteAsync(secret, Answers(s_required)));
        }

        var after = (await host.GetAsync())!;
        Assert.True(before == after.Revision, $"host {hostId}: 80 no-op check-ins wrote its state {after.Revision - before} times");
        Assert.True(after.LastSeenAt > after.Refetch!.CompletedAt, $"host {hostId}: last-seen time not kept in memory");
    }

    [Fact]
    public async Task RefetchCycle_WritesStateOnlyAtRequestAndCompletion()
    {
        var host = NewHost(out var hostId);
        var secret = Secret(await host.EnrollAsync(new EnrollRequest(s_mac14)));
        var enrolled = (await host.GetAsync())!.Revision;

        await host.RequestRefetchAsync();
        var requested = (await host.GetAsync())!.Revision;
        await host.ReadAsync(secret);
        var handedOut = (await host.GetAsync())!;
        await host.WriteAsync(secret, Answers(s_required));
        var verified = (await host.GetAsync())!.Revision;

        Assert.Equal(enrolled + 1, requested);
        Assert.True(handedOut.Revision == requested && handedOut.Refetch!.Status == RefetchStatus.Verifying,
            $"host {hostId}: hand-out should change memory only (revision {handedOut.Revision}, status {handedOut.Refetch!.Status})");
        Assert.Equal(requested + 1, verified);
    }

    internal static async Task<HostView> WaitForTerminalAsync(IHostGrain host, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        while (true)
        {
            var view = (await host.GetAsync())!;
            if (view.Refetch is { Status: RefetchStatus.Verified or RefetchStatus.Failed })
            {
                return view;
            }

            // The deadline runs on the silo's real clock (grain timers); polling the state is the observation.
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellation.Token);
        }
    }
}
