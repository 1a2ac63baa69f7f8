using System.Globalization;

namespace Fleet.Chaos;

/// <summary>
/// The run: start the cluster and the fleet, then one phase per fault (load before, the fault, load after, then
/// the checks), then the checks once more over everything accepted in the whole run.
/// </summary>
internal sealed class ChaosSuite(ChaosOptions options, TextWriter output)
{
    private const int MainSeed = 7;

    private const int SkewedSeed = 8;

    private readonly Ledger _ledger = new();
    private readonly List<string> _statsFiles = [];

    private ChaosForm Form => options.Form;

    public async Task<ChaosRunResult> RunAsync(CancellationToken cancellationToken)
    {
        PrepareDataFolder();
        await using var cluster = new ChaosCluster(options);
        Say($"Starting Azurite, {ChaosCluster.SiloCount} silos and the Api (logs: {Path.Combine(options.DataFolder, "logs")})...");
        await cluster.StartAsync(cancellationToken);

        using var client = new OperatorClient(cluster.ApiUrl, cluster.Token);
        var storage = new StorageReader(cluster.StorageConnectionString);
        var verifier = new Verifier(client, storage, _ledger, Form);
        var fleet = StartFleet(cluster);
        var hosts = HostIds(MainSeed, Form.Hosts);
        await WaitForEnrollmentAsync(storage, hosts.Count, cancellationToken);

        var results = new List<FaultResult>();
        IReadOnlyList<string> pool = hosts;
        async Task Phase(string fault, string description, Func<Task> inflict)
        {
            Say($"Phase {fault}: {description}");
            var load = new OperatorLoad(client, _ledger, Form, fault, () => Volatile.Read(ref pool), seed: results.Count + 1);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var start = DateTimeOffset.UtcNow;
            var running = load.RunAsync(stop.Token);
            await Task.Delay(Form.LoadBefore, cancellationToken);
            var struck = DateTimeOffset.UtcNow;
            await inflict();
            await Task.Delay(Form.LoadAfter, cancellationToken);
            await stop.CancelAsync();
            await running;
            var end = DateTimeOffset.UtcNow;

            // The simulator writes a line a second; wait for the one that covers the phase's end.
            await Task.Delay(TimeSpan.FromSeconds(1.5), cancellationToken);
            var traffic = Traffic.Measure(_statsFiles.Select(file => SimulatorStats.Read(file).ToArray()), client.Log, start, struck, end);
            Say($"  load stopped after {(end - start).TotalSeconds:0} s; checking (refetches settle for up to {(Form.Refetch.Budget + Form.Slack).TotalSeconds:0} s)...");
            var checks = await verifier.CheckAsync(fault, cancellationToken);
            var result = FaultResult.From(fault, description, traffic, checks);
            results.Add(result);
            Say($"  {ChaosReport.Row(result)}");
            foreach (var problem in checks.Problems)
            {
                Say($"    {problem}");
            }
        }

        await Phase("silo-kill", "kill -9 of silo 1, restarted after " + Seconds(Form.SiloDown), async () =>
        {
            cluster.KillSilo(1);
            await Task.Delay(Form.SiloDown, cancellationToken);
            await cluster.StartSiloAsync(1, cancellationToken);
        });
        await Phase("api-sigterm", "SIGTERM of the Api, started again at once", async () =>
        {
            await cluster.TerminateApiAsync();
            await cluster.StartApiAsync(cancellationToken);
        });
        await Phase("storage-outage", $"Azurite stopped for {Seconds(Form.StorageDown)}, restarted on the same data", async () =>
        {
            await cluster.StopAzuriteAsync();
            await Task.Delay(Form.StorageDown, cancellationToken);
            await cluster.StartAzuriteAsync(cancellationToken);
        });
        var skewed = HostIds(SkewedSeed, Form.SkewedHosts);
        ServiceProcess? skewedFleet = null;
        await Phase("clock-skew", $"{Form.SkewedHosts} more agents whose clocks run {Seconds(ChaosForm.ClockSkew)} ahead", async () =>
        {
            skewedFleet = StartSkewedFleet(cluster);
            await WaitForEnrollmentAsync(storage, hosts.Count + skewed.Count, cancellationToken);
            Volatile.Write(ref pool, [.. hosts, .. skewed]);
        });
        await Phase("reconnect-storm", "every agent drops its node key and enrolls again at once (SIGHUP to the simulator)", () =>
        {
            fleet.Signal("HUP");
            skewedFleet?.Signal("HUP");

            return Task.CompletedTask;
        });

        Say("Checking everything accepted in the whole run once more...");
        var final = await verifier.CheckAsync(null, cancellationToken);
        foreach (var problem in final.Problems)
        {
            Say($"    {problem}");
        }

        return new ChaosRunResult(Form.Name, Form.Hosts + Form.SkewedHosts, Form.Silent, Form.Refetch.Budget, Form.Slack, results, final);
    }

    private ServiceProcess StartFleet(ChaosCluster cluster)
    {
        Say($"Starting the agent simulator: {Form.Hosts} hosts ({Form.MacOS14} macOS 14, {Form.MacOS15} macOS 15, {Form.Ubuntu} Ubuntu), {Form.Silent} of them silent...");

        return StartSimulator(cluster, "simulator", MainSeed,
            ["--macos14", Text(Form.MacOS14), "--macos15", Text(Form.MacOS15), "--ubuntu", Text(Form.Ubuntu), "--fault", $"silent:{Text(Form.Silent)}"]);
    }

    private ServiceProcess StartSkewedFleet(ChaosCluster cluster)
    {
        var macs = Form.SkewedHosts / 2;

        return StartSimulator(cluster, "simulator-skewed", SkewedSeed,
            ["--macos15", Text(macs), "--ubuntu", Text(Form.SkewedHosts - macs), "--clock-skew", Text(ChaosForm.ClockSkew)]);
    }

    private ServiceProcess StartSimulator(ChaosCluster cluster, string name, int seed, IEnumerable<string> hosts)
    {
        var stats = Path.Combine(options.DataFolder, $"{name}-stats.jsonl");
        _statsFiles.Add(stats);

        return cluster.StartSimulator(name, stats, [.. hosts, "--seed", Text(seed), "--interval", Text(Form.AgentInterval)]);
    }

    /// <summary>The host ids the simulator gives hosts 1 to <paramref name="count"/> of a seed.</summary>
    private static List<string> HostIds(int seed, int count) =>
        [.. Enumerable.Range(1, count).Select(number => string.Create(CultureInfo.InvariantCulture, $"{seed:D8}-0000-4000-8000-{number:D12}"))];

    /// <summary>Waits until the hosts have state in storage; gives up only when enrollment makes no progress for a minute.</summary>
    private async Task WaitForEnrollmentAsync(StorageReader storage, int hosts, CancellationToken cancellationToken)
    {
        var patience = TimeSpan.FromSeconds(60);
        var (stored, best, progressAt) = (0, -1, DateTimeOffset.UtcNow);
        while ((stored = (await storage.HostsAsync(cancellationToken)).Count) < hosts)
        {
            if (stored > best)
            {
                (best, progressAt) = (stored, DateTimeOffset.UtcNow);
            }
            else if (DateTimeOffset.UtcNow - progressAt > patience)
            {
                throw new TimeoutException($"only {stored} of {hosts} hosts enrolled, and none more in {patience.TotalSeconds:0} s");
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        Say($"  {stored} hosts enrolled.");
    }

    private void PrepareDataFolder()
    {
        // Each run starts from empty storage, so its counts are its own.
        foreach (var stale in new[] { "azurite", "logs" })
        {
            var folder = Path.Combine(options.DataFolder, stale);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        Directory.CreateDirectory(options.DataFolder);
        foreach (var stats in Directory.GetFiles(options.DataFolder, "*-stats.jsonl"))
        {
            File.Delete(stats);
        }
    }

    private void Say(string line) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTimeOffset.UtcNow:HH:mm:ss}] {line}"));

    private static string Seconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0} s");

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0}s");
}

/// <summary>The whole run: the form, the per-fault rows and the final check over everything accepted.</summary>
internal sealed record ChaosRunResult(
    string Form, int Hosts, int SilentHosts, TimeSpan RefetchBudget, TimeSpan Slack, IReadOnlyList<FaultResult> Faults, CheckResult Final)
{
    public bool Passed => Final.Passed && Faults.All(fault => fault.Checks.Passed);
}
