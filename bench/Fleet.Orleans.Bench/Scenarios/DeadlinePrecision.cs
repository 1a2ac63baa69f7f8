using System.Collections.Concurrent;
using System.Diagnostics;

namespace Fleet.Bench.Scenarios;

/// <summary>One round of scenario 4: how late each silent host failed after its deadline, in milliseconds.</summary>
internal sealed record DeadlineRound(
    string Name,
    int Hosts,
    int Accepted,
    TimeSpan RequestWindow,
    List<float> LatenessMs,
    int Missing,
    double? KillBeforeFirstDeadlineSeconds,
    double? SiloDownSeconds,
    int IndexLagged,
    IReadOnlyDictionary<string, int> MissingByStatus)
{
    public double P50 => LoadStats.Percentile(Sorted, 0.50);

    public double P99 => LoadStats.Percentile(Sorted, 0.99);

    public double Max => LatenessMs.Count == 0 ? double.NaN : LatenessMs.Max();

    public double Min => LatenessMs.Count == 0 ? double.NaN : LatenessMs.Min();

    private List<float> Sorted => [.. LatenessMs.Order()];
}

/// <summary>
/// Scenario 4: silent hosts (they never check in) are all refetched at once; with one attempt each, every
/// one must fail at its deadline. Lateness is the host's failed transition time (status_changed_at, from the
/// host list) minus the deadline the refetch answer gave. A host the list does not show failed is asked
/// directly (<c>GET /api/v1/hosts/{id}</c>): failed there means only the index lagged, and its own
/// completed_at is used; anything else is a host that really did not fail. The second round kills the silo halfway to the
/// first deadline and starts a new one.
/// </summary>
internal static class DeadlinePrecision
{
    private const int Concurrency = 64;

    public static async Task<IReadOnlyList<DeadlineRound>> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var count = context.Profile.DeadlineHosts;

        // Any enrolled host that stays silent will do: the earlier scenarios' hosts, topped up if too few.
        var hosts = context.Enrolled.Take(2 * count).ToList();
        if (hosts.Count < 2 * count)
        {
            var more = Payloads.MakeHosts(0xB4, 0, (2 * count) - hosts.Count);
            context.Log($"deadline: enrolling {more.Count} more hosts");
            await context.EnrollAsync(more, Concurrency, cancellationToken);
            hosts.AddRange(more);
        }

        var rounds = new List<DeadlineRound>
        {
            await RoundAsync(context, "no restart", hosts.Take(count).ToList(), restart: false, cancellationToken),
        };
        if (context.Profile.DeadlineRestartRound)
        {
            rounds.Add(await RoundAsync(context, "silo killed and restarted", hosts.Skip(count).ToList(), restart: true, cancellationToken));
        }

        return rounds;
    }

    private static async Task<DeadlineRound> RoundAsync(
        BenchContext context, string name, List<SimHost> hosts, bool restart, CancellationToken cancellationToken)
    {
        var http = context.Http;
        await context.WaitForStorageQuietAsync(TimeSpan.FromMinutes(3), cancellationToken);
        var failedBefore = (await http.SummaryAsync(cancellationToken)).GetValueOrDefault("failed");
        context.Log($"deadline ({name}): refetching {hosts.Count} silent hosts");
        var accepted = new ConcurrentDictionary<string, RefetchAccepted>(StringComparer.Ordinal);
        var requests = await ClosedLoop.RunAsync(
            "refetch", Concurrency, TimeSpan.FromMinutes(5), hosts.Count,
            async (i, ct) =>
            {
                var answer = await http.RefetchAsync(hosts[(int)i].Uuid, ct);
                if (answer is not null)
                {
                    accepted[answer.HostId] = answer;
                }

                return answer is not null;
            },
            cancellationToken);
        var firstDeadline = accepted.Values.Min(a => a.Deadline);
        var lastDeadline = accepted.Values.Max(a => a.Deadline);
        context.Log($"  {accepted.Count} accepted in {requests.Elapsed.TotalSeconds:0.0} s; deadlines " +
            $"{(firstDeadline - DateTimeOffset.UtcNow).TotalSeconds:0} to {(lastDeadline - DateTimeOffset.UtcNow).TotalSeconds:0} s from now");

        double? killLead = null;
        double? down = null;
        if (restart)
        {
            // Sending thousands of refetches to slow storage can outlast the pickup timeout; then the kill aims
            // halfway to the last deadline, so the deadlines still ahead fall while the silo is down or after.
            var now = DateTimeOffset.UtcNow;
            var aim = firstDeadline > now ? firstDeadline : lastDeadline;
            var kill = now + ((aim - now) / 2);
            await DelayUntil(kill, cancellationToken);
            killLead = (firstDeadline - DateTimeOffset.UtcNow).TotalSeconds;
            var clock = Stopwatch.StartNew();
            await context.Product.RestartSiloAsync(crash: true, cancellationToken);
            down = clock.Elapsed.TotalSeconds;
            context.Log($"  silo killed {killLead:0.0} s before the first deadline; a new one served again after {down:0.0} s");
        }

        // Wait for every deadline, then give the stragglers (and a restarted silo's reminders) time to act.
        await DelayUntil(lastDeadline, cancellationToken);
        var expected = failedBefore + accepted.Count;
        var grace = TimeSpan.FromSeconds(restart ? 90 : 30) + (context.Profile.ReminderPeriod * 2);
        var waited = Stopwatch.StartNew();
        var failed = await context.WaitForStatusCountAsync("failed", expected, grace, cancellationToken);
        context.Log($"  {failed - failedBefore} of {accepted.Count} failed");

        // The count includes hosts whose refetch was stored but answered too late to count as accepted, so it can
        // reach the expected number while some accepted host is still pending: those get the rest of the grace.
        var changes = await http.ListStatusChangesAsync("failed", cancellationToken);
        var unfailed = accepted.Values.Where(r => !(changes.TryGetValue(r.HostId, out var at) && at >= r.RequestedAt)).ToList();
        while (unfailed.Count > 0 && waited.Elapsed < grace)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            var still = new List<RefetchAccepted>();
            foreach (var refetch in unfailed)
            {
                if (await http.GetRefetchAsync(refetch.HostId, cancellationToken) is not { Status: "failed" } truth || truth.Epoch != refetch.Epoch)
                {
                    still.Add(refetch);
                }
            }

            unfailed = still;
        }

        changes = await http.ListStatusChangesAsync("failed", cancellationToken);

        var lateness = new List<float>(accepted.Count);
        var missing = 0;
        var indexLagged = 0;
        var missingByStatus = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var refetch in accepted.Values)
        {
            if (changes.TryGetValue(refetch.HostId, out var at) && at >= refetch.RequestedAt)
            {
                lateness.Add((float)(at - refetch.Deadline).TotalMilliseconds);
                continue;
            }

            var truth = await http.GetRefetchAsync(refetch.HostId, cancellationToken);
            if (truth is { Status: "failed", CompletedAt: { } completed } && truth.Epoch == refetch.Epoch)
            {
                indexLagged++;
                lateness.Add((float)(completed - refetch.Deadline).TotalMilliseconds);
                continue;
            }

            missing++;
            var word = truth.Status is null ? "unreadable" : $"{truth.Status} (epoch {truth.Epoch})";
            missingByStatus[word] = missingByStatus.GetValueOrDefault(word) + 1;
        }

        var round = new DeadlineRound(
            name, hosts.Count, accepted.Count, requests.Elapsed, lateness, missing, killLead, down, indexLagged, missingByStatus);
        context.Log($"  failed − deadline: p50 {round.P50:0} ms, p99 {round.P99:0} ms, max {round.Max:0} ms, " +
            $"{missing} not failed{(missing == 0 ? "" : $" ({string.Join(", ", missingByStatus.Select(kv => $"{kv.Value} {kv.Key}"))})")}, " +
            $"{indexLagged} failed but not yet in the index");

        return round;
    }

    private static async Task DelayUntil(DateTimeOffset when, CancellationToken cancellationToken)
    {
        var wait = when - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken);
        }
    }
}
