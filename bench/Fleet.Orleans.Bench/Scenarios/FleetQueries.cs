using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Fleet.Bench.Scenarios;

/// <summary>One operator request measured one at a time: latencies in milliseconds, and what the answer said it matched.</summary>
internal sealed record QueryTiming(string Name, string Path, int Requests, int Errors, int Matched, double P50, double P95, double P99, double Max);

/// <summary>How the scenario's fleet was made: hosts per platform, status group and team, and what populating cost.</summary>
internal sealed record FleetMix(
    int Hosts,
    int Seeded,
    IReadOnlyDictionary<string, int> ByProfile,
    IReadOnlyDictionary<string, int> ByGroup,
    int InTeams,
    TimeSpan Populate,
    StorageCounts PopulateWrites,
    IReadOnlyDictionary<string, int> Summary);

/// <summary>Scenario 6's numbers.</summary>
internal sealed record FleetQueryResult(FleetMix Mix, IReadOnlyList<QueryTiming> Queries, CpuUse QueryCpu)
{
    public const string ListName = "list, first page";
    public const string SecondPageName = "list, second page (cursor)";
    public const string SummaryName = "summary";
    public const string IdentifierName = "identifier lookup";
    public const string BaselineName = "bare Api round trip";

    public QueryTiming? Find(string name) => Queries.FirstOrDefault(q => q.Name == name);
}

/// <summary>
/// Scenario 6: the operator's reads over a large fleet. Every host is a real grain with real state, enrolled
/// through the Api from the real payloads (macOS 15 and 14, Ubuntu, and Windows made from the Ubuntu capture),
/// a fifth of them in one of four teams, and a fifth taken through a refetch: verified, failed (the agent
/// reports an error), or left pending. Then the filtered list, its second page, the summary and the identifier
/// lookup are each asked a fixed number of times, one request at a time.
/// </summary>
internal static class FleetQueries
{
    public const string ListQuery = "api/v1/hosts?platform=darwin&os_version=15&status=pending&limit=50";

    private const int PopulateConcurrency = 64;
    private const int Population = 0xF1;
    private static readonly string[] s_teams = ["engineering", "sales", "support", "design"];

    public static async Task<FleetQueryResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var (mix, fleet) = await PopulateAsync(context, context.Profile.FleetQueryHosts, cancellationToken);
        var requests = context.Profile.QueryRequests;
        context.Log($"fleet queries: measuring, {requests} requests each, one at a time");

        var sample = context.Cpu.Start();
        var queries = new List<QueryTiming>
        {
            (await TimeAsync(context, FleetQueryResult.BaselineName, "bench/baseline/distributed/read", requests, Baseline, cancellationToken)).Timing,
        };
        var first = await TimeAsync(context, FleetQueryResult.ListName, ListQuery, requests, Get(ListQuery), cancellationToken);
        queries.Add(first.Timing);
        if (first.NextCursor is { } cursor)
        {
            var second = ListQuery + "&cursor=" + Uri.EscapeDataString(cursor);
            queries.Add((await TimeAsync(context, FleetQueryResult.SecondPageName, second, requests, Get(second), cancellationToken)).Timing);
        }

        queries.Add((await TimeAsync(context, FleetQueryResult.SummaryName, "api/v1/hosts/summary", requests, Get("api/v1/hosts/summary"), cancellationToken)).Timing);
        var random = new Random(6);
        var lookups = Enumerable.Range(0, requests).Select(i => Identifier(fleet[random.Next(fleet.Count)], i)).ToList();
        queries.Add((await TimeAsync(
            context, FleetQueryResult.IdentifierName, "api/v1/hosts/identifier/{serial|hostname|uuid}", requests,
            (i, ct) => context.Http.OperatorAsync(HttpMethod.Get, "api/v1/hosts/identifier/" + Uri.EscapeDataString(lookups[i]), null, ct),
            cancellationToken)).Timing);
        var cpu = CpuMeter.Stop(sample);

        foreach (var q in queries)
        {
            context.Log(string.Create(CultureInfo.InvariantCulture,
                $"  {q.Name}: p50 {q.P50:0.0} ms, p95 {q.P95:0.0} ms, {q.Errors} errors, matched {q.Matched}"));
        }

        return new FleetQueryResult(mix, queries, cpu);

        Task<(int, byte[])> Baseline(int i, CancellationToken ct) =>
            context.Http.PostAgentAsync("bench/baseline/distributed/read", fleet[i % fleet.Count].ReadBody, ct);

        Func<int, CancellationToken, Task<(int, byte[])>> Get(string url) =>
            (_, ct) => context.Http.OperatorAsync(HttpMethod.Get, url, null, ct);
    }

    /// <summary>A host's serial, hostname or hardware UUID (lower case, as operators paste them), in turn.</summary>
    private static string Identifier(SimHost host, int i) => (i % 3) switch
    {
        0 => host.Serial,
        1 => host.Hostname,
        _ => host.Uuid.ToLowerInvariant(),
    };

    private static string Uuid(int i) => string.Create(CultureInfo.InvariantCulture, $"{Population:X8}-0000-4000-8000-{i:X12}");

    /// <summary>The host's platform: 30 % macOS 15, 20 % macOS 14, 30 % Ubuntu, 20 % Windows.</summary>
    private static HostProfile ProfileOf(int i) => (i % 10) switch
    {
        < 3 => HostProfile.MacOS15,
        < 5 => HostProfile.MacOS14,
        < 8 => HostProfile.Ubuntu,
        _ => HostProfile.Windows,
    };

    /// <summary>Which refetch the host goes through, by tens so that it is independent of the platform: 10 % verified, 5 % failed, 5 % pending.</summary>
    private static string GroupOf(int i) => (i / 10 % 20) switch
    {
        < 2 => "verified",
        2 => "failed",
        3 => "pending",
        _ => "none",
    };

    /// <summary>A fifth of the hosts, by fifties so that it is independent of both, are in one of four teams.</summary>
    private static string? TeamOf(int i) => i / 10 % 5 == 4 ? s_teams[i / 50 % s_teams.Length] : null;

    private static async Task<(FleetMix Mix, List<SimHost> Hosts)> PopulateAsync(BenchContext context, int total, CancellationToken cancellationToken)
    {
        var count = Math.Min(total, context.Profile.FleetRealHosts);
        var hosts = Enumerable.Range(0, count).Select(i => new SimHost(i, Uuid(i), ProfileOf(i))).ToList();
        var clock = Stopwatch.StartNew();
        var before = await context.Http.StorageWritesAsync(cancellationToken);
        context.Log($"fleet queries: enrolling {count} hosts");
        await context.EnrollAsync(hosts, PopulateConcurrency, cancellationToken);
        context.Log($"  enrolled in {clock.Elapsed.TotalSeconds:0} s");

        var teams = hosts.Where(h => TeamOf(h.Index) is not null).ToList();
        await StepAsync(context, "team", teams, (h, ct) => context.Http.SetTeamAsync(h.Uuid, TeamOf(h.Index)!, ct), cancellationToken);
        await StepAsync(context, "verified", Group(hosts, "verified"), context.CycleAsync, cancellationToken);
        await StepAsync(context, "failed", Group(hosts, "failed"), (h, ct) => FailAsync(context, h, ct), cancellationToken);

        // Last, and Macs last of all, so the measurement starts while macOS 15's pending hosts wait out their pickup timeout.
        var pending = Group(hosts, "pending").OrderBy(h => h.Profile == HostProfile.MacOS15).ToList();
        await StepAsync(context, "pending", pending, async (h, ct) => await context.Http.RefetchAsync(h.Uuid, ct) is not null, cancellationToken);
        await SeedAsync(context, count, total, cancellationToken);
        var writes = await context.Http.StorageWritesAsync(cancellationToken) - before;
        var summary = await context.Http.SummaryAsync(cancellationToken);
        context.Log($"  populated in {clock.Elapsed.TotalSeconds:0} s; summary {string.Join(", ", summary.Select(s => $"{s.Key} {s.Value}"))}");

        return (new FleetMix(
            total,
            total - count,
            Enumerable.Range(0, total).GroupBy(i => ProfileOf(i).Name).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            Enumerable.Range(0, total).GroupBy(GroupOf).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            Enumerable.Range(0, total).Count(i => TeamOf(i) is not null),
            clock.Elapsed,
            writes,
            summary), hosts);
    }

    /// <summary>
    /// Hosts <paramref name="from"/> to <paramref name="to"/> of the same mix, put straight into the host index
    /// (no grain, no agent): the platform, OS version, status, team, serial and hostname a real host of that
    /// index would publish. Then waits until the summary counts them all.
    /// </summary>
    private static async Task SeedAsync(BenchContext context, int from, int to, CancellationToken cancellationToken)
    {
        if (to <= from)
        {
            return;
        }

        var clock = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow;
        context.Log($"fleet queries: seeding {to - from} index entries");
        foreach (var chunk in Enumerable.Range(from, to - from).Chunk(5_000))
        {
            var entries = chunk.Select(i =>
            {
                var host = new SimHost(i, Uuid(i), ProfileOf(i));
                var (platform, osVersion) = PlatformOf(host.Profile);

                return (object)new
                {
                    hostId = host.Uuid,
                    status = GroupOf(i) switch { "verified" => 3, "failed" => 4, "pending" => 1, _ => 0 },
                    platform,
                    osVersion,
                    hostname = host.Hostname,
                    serial = host.Serial,
                    teamId = TeamOf(i),
                    lastSeenAt = now.AddSeconds(-(i % 3600)),
                };
            }).ToList();
            await context.Http.SeedIndexAsync(entries, cancellationToken);
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            var summary = await context.Http.SummaryAsync(cancellationToken);
            if (summary.Values.Sum() >= to)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        context.Log($"  seeded in {clock.Elapsed.TotalSeconds:0} s");
    }

    private static (string Platform, string OsVersion) PlatformOf(HostProfile profile) => profile.Name switch
    {
        "macos15" => ("darwin", "15.1"),
        "macos14" => ("darwin", "14.1.2"),
        "windows" => ("windows", "10.0.22631"),
        _ => ("linux", "22.04"),
    };

    private static List<SimHost> Group(List<SimHost> hosts, string group) => hosts.Where(h => GroupOf(h.Index) == group).ToList();

    private static async Task StepAsync(
        BenchContext context, string name, List<SimHost> hosts, Func<SimHost, CancellationToken, Task<bool>> step, CancellationToken cancellationToken)
    {
        var stats = await ClosedLoop.RunAsync(
            name, PopulateConcurrency, TimeSpan.FromMinutes(30), hosts.Count, (i, ct) => step(hosts[(int)i], ct), cancellationToken);
        context.Log($"  {name}: {stats.Ok} hosts in {stats.Elapsed.TotalSeconds:0} s, {stats.Errors} errors");
    }

    /// <summary>A refetch the agent answers with an error for <c>system_info</c>: the host fails at once.</summary>
    private static async Task<bool> FailAsync(BenchContext context, SimHost host, CancellationToken cancellationToken)
    {
        if (await context.Http.RefetchAsync(host.Uuid, cancellationToken) is null)
        {
            return false;
        }

        var (read, _) = await context.Http.PostAgentAsync("api/osquery/distributed/read", host.ReadBody, cancellationToken);
        var (write, _) = await context.Http.PostAgentAsync("api/osquery/distributed/write", context.Payloads.FailingWriteBody(host), cancellationToken);

        return read == 200 && write == 200;
    }

    private static async Task<(QueryTiming Timing, string? NextCursor)> TimeAsync(
        BenchContext context,
        string name,
        string path,
        int requests,
        Func<int, CancellationToken, Task<(int Status, byte[] Body)>> send,
        CancellationToken cancellationToken)
    {
        var latencies = new List<float>(requests);
        var errors = 0;
        (int Status, byte[] Body) last = (0, []);
        for (var i = 0; i < requests; i++)
        {
            var started = Stopwatch.GetTimestamp();
            last = await send(i, cancellationToken);
            if (last.Status == 200)
            {
                latencies.Add((float)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            else
            {
                errors++;
            }
        }

        var (matched, cursor) = last.Status == 200 ? Page(last.Body) : (0, null);
        latencies.Sort();
        if (errors > 0)
        {
            context.Log($"  {name}: {errors} of {requests} answered other than 200, the last {last.Status}: {Encoding.UTF8.GetString(last.Body.AsSpan(0, Math.Min(200, last.Body.Length)))}");
        }

        return (new QueryTiming(
            name, path, requests, errors, matched,
            LoadStats.Percentile(latencies, 0.50), LoadStats.Percentile(latencies, 0.95), LoadStats.Percentile(latencies, 0.99),
            latencies.Count == 0 ? double.NaN : latencies[^1]), cursor);
    }

    /// <summary>What an answer says it matched (a list's total, a summary's total, one host) and a list's next cursor.</summary>
    private static (int Matched, string? Cursor) Page(byte[] body)
    {
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return (0, null);
        }

        var matched = root.TryGetProperty("total", out var total) && total.ValueKind == JsonValueKind.Number ? total.GetInt32()
            : root.TryGetProperty("host_id", out _) ? 1
            : 0;
        var cursor = root.TryGetProperty("next_cursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;

        return (matched, cursor);
    }
}
