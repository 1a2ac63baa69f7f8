using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Fleet.Contracts;

namespace Fleet.Chaos;

/// <summary>What the checks after a fault found. Every count but the accepted ones must be zero, and the counts must add up.</summary>
internal sealed record CheckResult(
    int AcceptedRefetches,
    int AcceptedJobs,
    int AcceptedProfiles,
    int Lost,
    int Late,
    int Disagreements,
    bool CountsAddUp,
    IReadOnlyList<string> Problems)
{
    public bool Passed => Lost == 0 && Late == 0 && Disagreements == 0 && CountsAddUp;
}

/// <summary>
/// The invariants, checked from the API and from storage once the load of a phase stopped: every accepted
/// refetch ended (verified or failed) by its last possible deadline plus the slack; every accepted job and profile
/// is still readable and stored; API, stored state and index entry agree on each host's status; and the counts add
/// up (summary total = stored hosts = index entries = the sums by status and by platform; a job's requested =
/// pending + verifying + verified + failed + superseded).
/// </summary>
internal sealed class Verifier(OperatorClient client, StorageReader storage, Ledger ledger, ChaosForm form)
{
    private const int MaxProblems = 20;

    private static readonly TimeSpan s_poll = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan s_agreementPatience = TimeSpan.FromSeconds(20);

    private readonly ConcurrentQueue<string> _problems = new();

    /// <summary>Checks the work one phase got accepted, or all of it when <paramref name="phase"/> is null.</summary>
    public async Task<CheckResult> CheckAsync(string? phase, CancellationToken cancellationToken)
    {
        _problems.Clear();
        var refetches = ledger.Refetches(phase);
        var jobs = ledger.Jobs(phase);
        var profiles = ledger.Profiles(phase);

        var (lostRefetches, late) = await SettleRefetchesAsync(refetches, cancellationToken);
        var (lostJobs, lateJobHosts, jobCountsAddUp) = await SettleJobsAsync(jobs, cancellationToken);
        var lostProfiles = await CheckProfilesAsync(profiles, cancellationToken);
        var hosts = refetches.Select(refetch => refetch.HostId).Distinct(StringComparer.Ordinal).ToList();
        var disagreements = await CheckAgreementAsync(hosts, cancellationToken);
        var countsAddUp = await CheckCountsAsync(cancellationToken) && jobCountsAddUp;

        return new CheckResult(
            refetches.Count, jobs.Count, profiles.Count, lostRefetches + lostJobs + lostProfiles, late + lateJobHosts,
            disagreements, countsAddUp, [.. _problems.Take(MaxProblems)]);
    }

    private void Problem(string problem) => _problems.Enqueue(problem);

    private TimeSpan Bound => form.Refetch.Budget + form.Slack;

    /// <summary>
    /// What a job adds to its hosts' bound: a job whose silo died resumes on its next reminder, and a host update the
    /// index lost is asked for again on the straggler check; both periods are the refetch reminder period here.
    /// </summary>
    private TimeSpan JobPatience => form.Refetch.ReminderPeriod * 2;

    /// <summary>Polls the hosts until each accepted refetch ended or its bound passed; returns those lost and those late.</summary>
    private async Task<(int Lost, int Late)> SettleRefetchesAsync(List<AcceptedRefetch> refetches, CancellationToken cancellationToken)
    {
        var open = refetches.ToList();
        var (lost, late) = (0, 0);
        while (open.Count > 0)
        {
            var now = DateTimeOffset.UtcNow;
            var outcomes = new ConcurrentDictionary<AcceptedRefetch, RefetchOutcome>();
            await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                async (refetch, _) => outcomes[refetch] = Classify(refetch, await client.GetHostAsync(refetch.HostId)));

            foreach (var (refetch, outcome) in outcomes)
            {
                var bound = refetch.RequestedAt + Bound;
                switch (outcome)
                {
                    case { Kind: OutcomeKind.Lost }:
                        lost++;
                        Problem($"lost: host {refetch.HostId} refetch epoch {refetch.Epoch} ({refetch.Phase}): {outcome.Detail}");
                        break;
                    case { Kind: OutcomeKind.Ended, EndedAt: { } ended } when ended > bound:
                        late++;
                        Problem($"late: host {refetch.HostId} epoch {refetch.Epoch} ({refetch.Phase}) ended {outcome.Detail} at {ended:O}, " +
                            $"{(ended - bound).TotalSeconds:0.0} s past its deadline plus slack");
                        break;
                    case { Kind: OutcomeKind.Open } when now > bound:
                        late++;
                        Problem($"late: host {refetch.HostId} epoch {refetch.Epoch} ({refetch.Phase}) still {outcome.Detail} " +
                            $"{(now - bound).TotalSeconds:0.0} s past its deadline plus slack");
                        break;
                    case { Kind: OutcomeKind.Open }:
                        continue;
                }

                open.Remove(refetch);
            }

            if (open.Count > 0)
            {
                await Task.Delay(s_poll, cancellationToken);
            }
        }

        return (lost, late);
    }

    private enum OutcomeKind
    {
        Open,
        Ended,
        Lost,
    }

    private sealed record RefetchOutcome(OutcomeKind Kind, DateTimeOffset? EndedAt, string Detail);

    private static RefetchOutcome Classify(AcceptedRefetch accepted, (HttpStatusCode? Status, JsonNode? Body) answer)
    {
        if (answer.Status == HttpStatusCode.NotFound)
        {
            return new RefetchOutcome(OutcomeKind.Lost, null, "the host is unknown (404)");
        }

        if (answer.Status != HttpStatusCode.OK || answer.Body is not { } host)
        {
            return new RefetchOutcome(OutcomeKind.Open, null, $"unreadable ({(int?)answer.Status})");
        }

        var refetch = host["refetch"];
        var epoch = refetch?["epoch"]?.GetValue<int>() ?? 0;
        var status = refetch?["status"]?.GetValue<string>() ?? "none";
        if (epoch < accepted.Epoch)
        {
            return new RefetchOutcome(OutcomeKind.Lost, null, $"the host is back at epoch {epoch} ({status})");
        }

        if (epoch == accepted.Epoch)
        {
            return status is "verified" or "failed"
                ? new RefetchOutcome(OutcomeKind.Ended, refetch!["completed_at"]?.GetValue<DateTimeOffset>(), status)
                : new RefetchOutcome(OutcomeKind.Open, null, status);
        }

        // A newer epoch starts only once this one ended; its end is among the recent transitions, if still kept.
        var end = (host["transitions"] as JsonArray ?? [])
            .LastOrDefault(transition => transition?["epoch"]?.GetValue<int>() == accepted.Epoch
                && transition["to"]?.GetValue<string>() is "verified" or "failed");

        return new RefetchOutcome(OutcomeKind.Ended, end?["at"]?.GetValue<DateTimeOffset>(), end?["to"]?.GetValue<string>() ?? "superseded");
    }

    /// <summary>Waits for each job to complete or pass its bound; counts lost jobs and hosts still in flight past it.</summary>
    private async Task<(int Lost, int Late, bool CountsAddUp)> SettleJobsAsync(List<AcceptedJob> jobs, CancellationToken cancellationToken)
    {
        var (lost, late, countsAddUp) = (0, 0, true);
        foreach (var job in jobs)
        {
            var bound = job.AcceptedAt + TimeSpan.FromSeconds((double)job.Hosts / job.Rate) + JobPatience + Bound;
            while (true)
            {
                var (status, body) = await client.GetJobAsync(job.JobId);
                if (status == HttpStatusCode.NotFound)
                {
                    lost++;
                    Problem($"lost: job {job.JobId} ({job.Phase}) answers 404");
                    break;
                }

                if (status == HttpStatusCode.OK && body is not null)
                {
                    int Count(string name) => body[name]?.GetValue<int>() ?? 0;
                    var inFlight = Count("pending") + Count("verifying");
                    var sum = inFlight + Count("verified") + Count("failed") + Count("superseded");
                    if (sum != Count("requested"))
                    {
                        countsAddUp = false;
                        Problem($"counts: job {job.JobId} requested {Count("requested")} but its states add up to {sum}");
                    }

                    var finished = body["state"]?.GetValue<string>() is "completed" or "cancelled";
                    if (finished || DateTimeOffset.UtcNow > bound)
                    {
                        late += finished ? 0 : inFlight;
                        if (!finished)
                        {
                            Problem($"late: job {job.JobId} ({job.Phase}) still has {inFlight} hosts in flight past its bound");
                        }

                        if (!await storage.GrainStateExistsAsync("refetchjob", job.JobId, cancellationToken))
                        {
                            lost++;
                            Problem($"lost: job {job.JobId} ({job.Phase}) has no state row in storage");
                        }

                        break;
                    }
                }

                await Task.Delay(s_poll, cancellationToken);
            }
        }

        return (lost, late, countsAddUp);
    }

    private async Task<int> CheckProfilesAsync(List<AcceptedProfile> profiles, CancellationToken cancellationToken)
    {
        if (profiles.Count == 0)
        {
            return 0;
        }

        var declared = await ReadAsync(() => client.GetProfilesAsync(OperatorLoad.Team), cancellationToken);
        var checksums = (declared?["profiles"] as JsonArray ?? [])
            .Where(profile => profile?["identifier"] is not null)
            .ToDictionary(profile => profile!["identifier"]!.GetValue<string>(), profile => profile!["checksum"]?.GetValue<string>(), StringComparer.Ordinal);
        var lost = 0;
        foreach (var profile in profiles.Where(profile => checksums.GetValueOrDefault(profile.Identifier) != profile.Checksum))
        {
            lost++;
            Problem($"lost: profile {profile.Identifier} ({profile.Phase}) is not declared with checksum {profile.Checksum}");
        }

        if (!await storage.GrainStateExistsAsync("team", OperatorLoad.Team, cancellationToken))
        {
            lost += profiles.Count;
            Problem($"lost: team {OperatorLoad.Team} has no state row in storage");
        }

        return lost;
    }

    /// <summary>API view, stored state and index entry must name the same status; the index may lag a moment.</summary>
    private async Task<int> CheckAgreementAsync(List<string> hosts, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + s_agreementPatience;
        var disagreeing = hosts;
        var details = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            var stored = await storage.HostsAsync(cancellationToken);
            var index = await storage.IndexAsync(cancellationToken);
            details.Clear();
            await Parallel.ForEachAsync(disagreeing, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                async (hostId, _) =>
                {
                    var (status, body) = await client.GetHostAsync(hostId);
                    var api = status == HttpStatusCode.OK ? body?["refetch"]?["status"]?.GetValue<string>() ?? "none" : $"HTTP {(int?)status}";
                    var inStorage = stored.TryGetValue(hostId, out var host) ? Word(host.Status) : "missing";
                    var inIndex = index.TryGetValue(hostId, out var entry) ? Word(entry) : "missing";
                    if (api != inStorage || api != inIndex)
                    {
                        details[hostId] = $"API {api}, storage {inStorage}, index {inIndex}";
                    }
                });

            disagreeing = [.. details.Keys];
            if (disagreeing.Count == 0 || DateTimeOffset.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(s_poll, cancellationToken);
        }

        foreach (var (hostId, detail) in details)
        {
            Problem($"two states: host {hostId}: {detail}");
        }

        return disagreeing.Count;
    }

    /// <summary>The summary, the stored hosts and the index entries must count the same hosts; the summary may lag.</summary>
    private async Task<bool> CheckCountsAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + s_agreementPatience;
        string? mismatch;
        do
        {
            var summary = await ReadAsync(client.SummaryAsync, cancellationToken);
            var stored = (await storage.HostsAsync(cancellationToken)).Count;
            var indexed = (await storage.IndexAsync(cancellationToken)).Count;
            var total = summary?["total"]?.GetValue<int>() ?? -1;
            var byStatus = Sum(summary?["by_status"]);
            var byPlatform = Sum(summary?["by_platform"]);
            mismatch = total == stored && total == indexed && total == byStatus && total == byPlatform
                ? null
                : $"counts: summary total {total}, by status {byStatus}, by platform {byPlatform}; stored hosts {stored}, index entries {indexed}";
            if (mismatch is not null)
            {
                await Task.Delay(s_poll, cancellationToken);
            }
        }
        while (mismatch is not null && DateTimeOffset.UtcNow < deadline);

        if (mismatch is not null)
        {
            Problem(mismatch);
        }

        return mismatch is null;
    }

    private static int Sum(JsonNode? counts) =>
        (counts as JsonObject ?? []).Sum(count => count.Value?.GetValue<int>() ?? 0);

    private static async Task<JsonNode?> ReadAsync(
        Func<Task<(HttpStatusCode? Status, JsonNode? Body)>> read, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 15; attempt++)
        {
            var (status, body) = await read();
            if (status == HttpStatusCode.OK)
            {
                return body;
            }

            await Task.Delay(s_poll, cancellationToken);
        }

        return null;
    }

    private static string Word(RefetchStatus status) => status.ToString().ToLowerInvariant();
}
