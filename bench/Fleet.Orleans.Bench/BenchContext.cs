using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Fleet.Bench;

/// <summary>A hard invariant the short mode fails on (never a speed).</summary>
internal sealed record InvariantCheck(string Name, bool Passed, string Detail);

/// <summary>What every scenario shares: the product, the HTTP pools, the payloads and the run's clock.</summary>
internal sealed class BenchContext(BenchOptions options, Product product, FleetHttp http, Payloads payloads)
{
    private const string ReadPath = "api/osquery/distributed/read";
    private const string AskingPath = "bench/baseline/asking/distributed/read";
    private const string WritePath = "api/osquery/distributed/write";

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public BenchOptions Options => options;

    public BenchProfile Profile => options.Profile;

    public Product Product => product;

    public FleetHttp Http => http;

    public Payloads Payloads => payloads;

    public List<InvariantCheck> Invariants { get; } = [];

    /// <summary>Load averages seen when each scenario started.</summary>
    public Dictionary<string, string> LoadAtStart { get; } = new(StringComparer.Ordinal);

    /// <summary>Every host any scenario enrolled, in order, with its current node key.</summary>
    public List<SimHost> Enrolled { get; } = [];

    /// <summary>The scale scenario's hosts (enrolled, one completed refetch each), reused by later scenarios.</summary>
    public List<SimHost> Fleet { get; } = [];

    public TimeSpan Elapsed => _clock.Elapsed;

    public CpuMeter Cpu => new(() =>
    {
        var pids = new Dictionary<string, int>(StringComparer.Ordinal) { ["generator"] = Environment.ProcessId };
        if (product.Silo is { } silo)
        {
            pids["silo"] = silo.Pid;
        }

        if (product.Api is { } api)
        {
            pids["api"] = api.Pid;
        }

        if (options.AzuritePid is { } azurite)
        {
            pids["azurite"] = azurite;
        }

        return pids;
    });

    public void Log(string message) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed:mm\\:ss}] {message}"));

    /// <summary>
    /// Waits (at most five minutes) while the 1-minute load average is above 1.5 and other work (not this run's
    /// processes, whose own last phase also lifts the load average) keeps more than a quarter of a core busy.
    /// Records the load average and the other work it started at either way.
    /// </summary>
    public async Task WaitForQuietAsync(string scenario, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        CpuUse sample;
        while (true)
        {
            var start = Cpu.Start();
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            sample = CpuMeter.Stop(start);
            var quiet = MachineInfo.LoadAverage1() <= 1.5 || sample.Others < 0.25;
            if (quiet || options.IsShort || waited.Elapsed > TimeSpan.FromMinutes(5))
            {
                break;
            }

            if (waited.Elapsed < TimeSpan.FromSeconds(6))
            {
                Log($"load average {MachineInfo.LoadAverage()} and other work at {sample.Others:0.00} cores; waiting up to 5 minutes before {scenario}");
            }
        }

        var note = string.Create(CultureInfo.InvariantCulture, $"{MachineInfo.LoadAverage()}, other work {sample.Others:0.00} cores");
        LoadAtStart[scenario] = waited.Elapsed > TimeSpan.FromSeconds(10)
            ? string.Create(CultureInfo.InvariantCulture, $"{note} (after waiting {waited.Elapsed.TotalSeconds:0} s)")
            : note;
        Log($"{scenario}: load average {LoadAtStart[scenario]}");
    }

    public Task<bool> NoOpReadAsync(SimHost host, CancellationToken cancellationToken) =>
        http.NoOpReadAsync(ReadPath, host, cancellationToken);

    /// <summary>A no-op read, as <see cref="NoOpReadAsync"/>, that answers null when it was one and otherwise says what came back.</summary>
    public Task<string?> NoOpReadProblemAsync(SimHost host, CancellationToken cancellationToken) =>
        http.NoOpReadProblemAsync(ReadPath, host, cancellationToken);

    /// <summary>
    /// A no-op read that asks the host's grain, never answered under a lease (the bench's baseline endpoint); null when it
    /// was a no-op, otherwise what came back.
    /// </summary>
    public Task<string?> AskingReadProblemAsync(SimHost host, CancellationToken cancellationToken) =>
        http.NoOpReadProblemAsync(AskingPath, host, cancellationToken);

    /// <summary>
    /// Enrolls the hosts; a host that fails is tried twice more. Hosts that still fail (the Api answers 503 when
    /// Azurite falls behind) are dropped from the list and logged; more than 2 % failing stops the scenario.
    /// </summary>
    public async Task<LoadStats> EnrollAsync(List<SimHost> hosts, int concurrency, CancellationToken cancellationToken)
    {
        var stats = await ClosedLoop.RunAsync(
            "enroll",
            concurrency,
            TimeSpan.FromMinutes(20),
            hosts.Count,
            (i, ct) => EnrollWithRetryAsync(hosts[(int)i], ct),
            cancellationToken);
        if (stats.Errors > hosts.Count / 50)
        {
            throw new InvalidOperationException($"{stats.Errors} of {hosts.Count} hosts could not enroll; see {product.Api!.LogPath}");
        }

        if (stats.Errors > 0)
        {
            Log($"  {stats.Errors} of {hosts.Count} hosts could not enroll (storage too slow); going on without them");
            hosts.RemoveAll(h => h.NodeKey is null);
        }

        Enrolled.AddRange(hosts);

        return stats;
    }

    /// <summary>
    /// One full refetch cycle: the operator requests a refetch, the agent reads (and gets the detail
    /// queries), then writes the real results, which verifies the host.
    /// </summary>
    public async Task<bool> CycleAsync(SimHost host, CancellationToken cancellationToken)
    {
        if (await http.RefetchAsync(host.Uuid, cancellationToken) is null)
        {
            return false;
        }

        var (readStatus, queries) = await http.PostAgentAsync(ReadPath, host.ReadBody, cancellationToken);
        if (readStatus != 200 || !Encoding.UTF8.GetString(queries).Contains("fleet_detail_query_system_info", StringComparison.Ordinal))
        {
            return false;
        }

        var (writeStatus, _) = await http.PostAgentAsync(WritePath, payloads.WriteBody(host), cancellationToken);

        return writeStatus == 200;
    }

    /// <summary>Cycles every host once; a failed cycle is retried once (the second try starts a fresh cycle).</summary>
    public Task<LoadStats> CycleAllAsync(string name, List<SimHost> hosts, int concurrency, CancellationToken cancellationToken) =>
        ClosedLoop.RunAsync(
            name,
            concurrency,
            TimeSpan.FromMinutes(20),
            hosts.Count,
            async (i, ct) => await CycleAsync(hosts[(int)i], ct) || await CycleAsync(hosts[(int)i], ct),
            cancellationToken);

    /// <summary>One no-op check-in per host, so every host is an active grain.</summary>
    public Task<LoadStats> ActivateAsync(IReadOnlyList<SimHost> hosts, int concurrency, CancellationToken cancellationToken) =>
        ClosedLoop.RunAsync(
            "activate",
            concurrency,
            TimeSpan.FromMinutes(10),
            hosts.Count,
            (i, ct) => NoOpReadAsync(hosts[(int)i], ct),
            cancellationToken);

    /// <summary>Operator reads of each host: activates them without a check-in, so collecting them later writes nothing.</summary>
    public Task<LoadStats> ActivateQuietlyAsync(IReadOnlyList<SimHost> hosts, int concurrency, CancellationToken cancellationToken) =>
        ClosedLoop.RunAsync(
            "activate (operator read)",
            concurrency,
            TimeSpan.FromMinutes(10),
            hosts.Count,
            (i, ct) => http.GetHostAsync(hosts[(int)i].Uuid, ct),
            cancellationToken);

    /// <summary>Polls the summary until <paramref name="status"/> reaches <paramref name="expected"/> hosts or the wait ends.</summary>
    public async Task<int> WaitForStatusCountAsync(string status, int expected, TimeSpan wait, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var count = 0;
        while (clock.Elapsed < wait)
        {
            try
            {
                count = (await http.SummaryAsync(cancellationToken)).GetValueOrDefault(status);
                if (count >= expected)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // 503 while a restarted silo is coming back; keep polling until the wait ends.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        return count;
    }

    /// <summary>
    /// Waits (bounded) until the silo's storage-write counters stop moving for five seconds, so a scenario does
    /// not start while deactivations are still flushing to Azurite.
    /// </summary>
    public async Task WaitForStorageQuietAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        StorageCounts? last = null;
        while (clock.Elapsed < wait)
        {
            try
            {
                var now = await http.StorageWritesAsync(cancellationToken);
                if (now == last)
                {
                    return;
                }

                last = now;
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
        }

        Log($"storage writes still moving after {wait.TotalSeconds:0} s; going on");
    }

    private async Task<bool> EnrollWithRetryAsync(SimHost host, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                if (await http.EnrollAsync(host, payloads.EnrollBody(host, product.EnrollSecret), cancellationToken))
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        return false;
    }
}
