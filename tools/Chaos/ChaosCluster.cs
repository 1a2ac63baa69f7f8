using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Fleet.Chaos;

/// <summary>
/// Azurite, two silos and the Api on 127.0.0.1, started from the Release build the way tools/start starts them,
/// with refetch deadlines short enough to expire within a phase. Every process it starts it stops, by PID.
/// </summary>
internal sealed class ChaosCluster(ChaosOptions options) : IAsyncDisposable
{
    public const string ClusterId = "chaos";

    /// <summary>The service id the silos use by default; grain state and index keys start with it.</summary>
    public const string ServiceId = "fleet-orleans";

    public const int SiloCount = 2;

    // The loopback push gateway port of this suite; no simulated Mac enrolls in MDM, so nothing answers there.
    private const int PushPort = 2597;

    private static readonly string[] s_policies = ["darwin", "macos14", "macos15", "linux", "windows"];

    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(120);

    private readonly ServiceProcess?[] _silos = new ServiceProcess?[SiloCount];
    private readonly List<ServiceProcess> _simulators = [];
    private ServiceProcess? _azurite;
    private ServiceProcess? _api;

    public string Token { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    public string EnrollSecret { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    public Uri ApiUrl => new($"http://127.0.0.1:{options.Ports.Api}");

    public string StorageConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{options.Ports.AzuriteBlob}/devstoreaccount1;" +
        $"QueueEndpoint=http://127.0.0.1:{options.Ports.AzuriteQueue}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{options.Ports.AzuriteTable}/devstoreaccount1;";

    private string Logs => Path.Combine(options.DataFolder, "logs");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await StartAzuriteAsync(cancellationToken);
        await Task.WhenAll(Enumerable.Range(0, SiloCount).Select(silo => StartSiloAsync(silo, cancellationToken)));
        await StartApiAsync(cancellationToken);
    }

    public async Task StartAzuriteAsync(CancellationToken cancellationToken)
    {
        var ports = options.Ports;
        _azurite?.Dispose();
        _azurite = ServiceProcess.Start(
            "azurite", options.Root, Path.Combine(Logs, "azurite.log"), new Dictionary<string, string>(),
            Path.Combine(options.Root, "node_modules", ".bin", "azurite"),
            "--silent", "--disableTelemetry", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
            "--blobPort", Text(ports.AzuriteBlob), "--queuePort", Text(ports.AzuriteQueue), "--tablePort", Text(ports.AzuriteTable),
            "--skipApiVersionCheck", "--loose", "--location", Path.Combine(options.DataFolder, "azurite"));
        await WaitAsync(_azurite, () => PortOpenAsync(ports.AzuriteTable), cancellationToken);
    }

    /// <summary>Stops Azurite with SIGTERM, which saves its data to disk, as a storage outage.</summary>
    public Task StopAzuriteAsync() => _azurite!.StopAsync("TERM", TimeSpan.FromSeconds(20));

    public async Task StartSiloAsync(int silo, CancellationToken cancellationToken)
    {
        var ports = options.Ports;
        var environment = ServiceEnvironment();
        environment["Urls"] = $"http://127.0.0.1:{ports.SiloHttp + silo}";
        environment["Fleet__Silo__SiloPort"] = Text(ports.Silo + silo);
        environment["Fleet__Silo__GatewayPort"] = Text(ports.Gateway + silo);
        _silos[silo]?.Dispose();
        var process = ServiceProcess.Start(
            $"silo-{silo}", Path.Combine(options.Root, "Silo", "bin", "Release", "net10.0"),
            Path.Combine(Logs, $"silo-{silo}.log"), environment, "dotnet", "Fleet.Orleans.Silo.dll");
        _silos[silo] = process;
        await WaitAsync(process, () => HealthyAsync(new Uri($"http://127.0.0.1:{ports.SiloHttp + silo}/healthz")), cancellationToken);
    }

    /// <summary>kill -9 of one silo: its activations and in-flight calls are lost at once.</summary>
    public void KillSilo(int silo) => _silos[silo]!.Kill();

    public async Task StartApiAsync(CancellationToken cancellationToken)
    {
        var environment = ServiceEnvironment();
        environment["Urls"] = "";
        environment["Kestrel__Endpoints__Http__Url"] = ApiUrl.AbsoluteUri;
        _api?.Dispose();
        _api = ServiceProcess.Start(
            "api", Path.Combine(options.Root, "Api", "bin", "Release", "net10.0"), Path.Combine(Logs, "api.log"),
            environment, "dotnet", "Fleet.Orleans.Api.dll");
        await WaitAsync(_api, () => HealthyAsync(new Uri(ApiUrl, "/readyz")), cancellationToken);
    }

    /// <summary>SIGTERM of the Api, as an orchestrator restarting it does; returns whether it exited within the grace period.</summary>
    public Task<bool> TerminateApiAsync() => _api!.StopAsync("TERM", TimeSpan.FromSeconds(30));

    /// <summary>Starts the agent simulator with the suite's Api and secret and the given host arguments.</summary>
    public ServiceProcess StartSimulator(string name, string statsFile, IEnumerable<string> arguments)
    {
        string[] command =
        [
            "dotnet", Path.Combine(options.Root, "tools", "AgentSimulator", "bin", "Release", "net10.0", "Fleet.Orleans.AgentSimulator.dll"),
            "--api", ApiUrl.AbsoluteUri, "--enroll-secret", EnrollSecret, "--no-mdm", "--stats", statsFile, .. arguments,
        ];
        var simulator = ServiceProcess.Start(name, options.DataFolder, Path.Combine(Logs, $"{name}.log"), new Dictionary<string, string>(), command);
        _simulators.Add(simulator);

        return simulator;
    }

    public async ValueTask DisposeAsync()
    {
        // Newest first: the load, then the Api and the silos, then the storage they still write to.
        foreach (var simulator in _simulators)
        {
            await StopQuietlyAsync(simulator, "INT");
        }

        await StopQuietlyAsync(_api, "TERM");
        await Task.WhenAll(_silos.Select(silo => StopQuietlyAsync(silo, "TERM")));
        await StopQuietlyAsync(_azurite, "TERM");
    }

    private static async Task StopQuietlyAsync(ServiceProcess? process, string signal)
    {
        if (process is null)
        {
            return;
        }

        await process.StopAsync(signal, TimeSpan.FromSeconds(15));
        process.Dispose();
    }

    private Dictionary<string, string> ServiceEnvironment()
    {
        var refetch = options.Form.Refetch;
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__FleetStorage"] = StorageConnectionString,
            ["Fleet__Silo__ClusterId"] = ClusterId,
            ["Fleet__Cluster__ClusterId"] = ClusterId,
            ["Fleet__Api__Tokens__0__Name"] = "chaos",
            ["Fleet__Api__Tokens__0__Token"] = Token,
            ["Fleet__Api__Tokens__0__Role"] = "maintainer",
            ["Fleet__Agents__EnrollSecrets__0"] = EnrollSecret,
            ["Fleet__Mdm__Push__GatewayUrl"] = $"http://127.0.0.1:{PushPort}",
            ["Fleet__Refetch__ReminderPeriod"] = Text(refetch.ReminderPeriod),

            // A job whose silo died resumes on its reminder, and asks stragglers to publish again on this period.
            ["Fleet__RefetchJobs__ReminderPeriod"] = Text(refetch.ReminderPeriod),
            ["Fleet__RefetchJobs__StragglerCheckPeriod"] = Text(refetch.ReminderPeriod),
        };
        foreach (var policy in s_policies)
        {
            var key = $"Fleet__Refetch__Policies__{policy}__";
            environment[key + "PickupTimeout"] = Text(refetch.Pickup);
            environment[key + "ResultsTimeout"] = Text(refetch.Results);
            environment[key + "MaxAttempts"] = Text(refetch.MaxAttempts);
            environment[key + "RetryBackoff"] = Text(refetch.RetryBackoff);
            environment[key + "MaxRetryBackoff"] = Text(refetch.RetryBackoff * Math.Pow(2, Math.Max(0, refetch.MaxAttempts - 2)));
        }

        return environment;
    }

    private static async Task WaitAsync(ServiceProcess process, Func<Task<bool>> ready, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + s_startTimeout;
        while (!await ready())
        {
            if (!process.IsRunning)
            {
                throw new InvalidOperationException($"{process.Name} (pid {process.Pid}) exited while starting:\n{process.Tail()}");
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"{process.Name} (pid {process.Pid}) was not ready within {s_startTimeout.TotalSeconds} s:\n{process.Tail()}");
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    private static async Task<bool> HealthyAsync(Uri url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await http.GetAsync(url);

            return response.IsSuccessStatusCode;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> PortOpenAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port);

            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
