using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace Fleet.Bench;

/// <summary>
/// One product process (silo or Api) started from its Release build folder, its output appended to a log.
/// It is stopped only through its own PID, and its PID is written to a file the run script also reads, so
/// nothing is left running if this program dies.
/// </summary>
internal sealed class ProductProcess : IDisposable
{
    private readonly Process _process;
    private bool _disposed;

    private ProductProcess(string name, Process process, string logPath)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public string LogPath { get; }

    public bool HasExited => _disposed || _process.HasExited;

    public static ProductProcess Start(string name, string dll, string logPath, string pidFile, IReadOnlyDictionary<string, string> environment)
    {
        // exec keeps the PID the dotnet process's own; $0 and $1 avoid quoting paths into the command.
        var start = new ProcessStartInfo("/bin/sh")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            UseShellExecute = false,
            RedirectStandardInput = true,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec dotnet \"$0\" >>\"$1\" 2>&1");
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add(logPath);
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        File.AppendAllText(logPath, $"===== {name} started {DateTimeOffset.UtcNow:O} =====\n");
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {name}");
        process.StandardInput.Close();
        File.AppendAllText(pidFile, process.Id.ToString(CultureInfo.InvariantCulture) + "\n");

        return new ProductProcess(name, process, logPath);
    }

    /// <summary>TERM, then KILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    /// <summary>SIGKILL: a crash, as far as the cluster can tell.</summary>
    public void Kill()
    {
        if (!HasExited)
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
    }

    public string LogTail(int lines = 20)
    {
        try
        {
            return string.Join('\n', File.ReadLines(LogPath).TakeLast(lines));
        }
        catch (IOException)
        {
            return "(log unreadable)";
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        Kill();
        _disposed = true;
        _process.Dispose();
    }
}

/// <summary>The product as the benchmark runs it: one silo and one Api on the run's own ports.</summary>
internal sealed class Product : IDisposable
{
    private readonly BenchOptions _options;
    private readonly string _pidFile;
    private int _siloStarts;

    public Product(BenchOptions options)
    {
        _options = options;
        _pidFile = Path.Combine(options.ResultsDir, "product.pids");
        Token = RandomNumberGenerator.GetHexString(32, lowercase: true);
        EnrollSecret = RandomNumberGenerator.GetHexString(32, lowercase: true);
    }

    public string Token { get; }

    public string EnrollSecret { get; }

    public ProductProcess? Silo { get; private set; }

    public ProductProcess? Api { get; private set; }

    public Uri ApiUri => new($"http://127.0.0.1:{_options.ApiPort}/");

    public Uri SiloUri => new($"http://127.0.0.1:{_options.SiloHttpPort}/");

    /// <summary>The settings both processes get, for the report.</summary>
    public IReadOnlyDictionary<string, string> Settings => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["Fleet:Refetch:ReminderPeriod"] = Format(_options.Profile.ReminderPeriod),
        ["Fleet:Refetch:Policies:{linux,macos14}:PickupTimeout"] = Format(_options.Profile.PickupTimeout),
        ["Fleet:Refetch:Policies:{linux,macos14}:ResultsTimeout"] = Format(_options.Profile.PickupTimeout),
        ["Fleet:Refetch:Policies:{linux,macos14}:MaxAttempts"] = "1",
        ["Fleet:Silo:CollectionAge"] = Format(_options.Profile.CollectionAge),
        ["Fleet:Benchmark:BaselineEndpoints"] = "true",
        ["Logging"] = "the product's appsettings.json (Information; transitions and enrollments logged)",
        ["Build"] = "Release",
    };

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await StartSiloAsync(cancellationToken);
        await StartApiAsync(cancellationToken);
    }

    public async Task StartSiloAsync(CancellationToken cancellationToken)
    {
        var environment = Common();
        environment["Urls"] = SiloUri.AbsoluteUri.TrimEnd('/');
        environment["Fleet__Silo__SiloPort"] = Invariant(_options.SiloPort);
        environment["Fleet__Silo__GatewayPort"] = Invariant(_options.GatewayPort);
        environment["Fleet__Silo__ClusterId"] = _options.ClusterId;
        environment["Fleet__Silo__CollectionAge"] = Format(_options.Profile.CollectionAge);
        environment["Fleet__Benchmark__IndexSeeding"] = "true";
        environment["Fleet__Benchmark__BaselineEndpoints"] = "true";
        environment["Fleet__Refetch__ReminderPeriod"] = Format(_options.Profile.ReminderPeriod);
        foreach (var policy in new[] { "linux", "macos14" })
        {
            var prefix = $"Fleet__Refetch__Policies__{policy}__";
            environment[prefix + "PickupTimeout"] = Format(_options.Profile.PickupTimeout);
            environment[prefix + "ResultsTimeout"] = Format(_options.Profile.PickupTimeout);
            environment[prefix + "MaxAttempts"] = "1";
        }

        _siloStarts++;
        Silo = ProductProcess.Start(
            "silo",
            Path.Combine(_options.RepoRoot, "Silo/bin/Release/net10.0/Fleet.Orleans.Silo.dll"),
            Path.Combine(_options.ResultsDir, "silo.log"),
            _pidFile,
            environment);
        await WaitHttpAsync(Silo, new Uri(SiloUri, "healthz"), TimeSpan.FromSeconds(120), cancellationToken);
    }

    public async Task StartApiAsync(CancellationToken cancellationToken)
    {
        var environment = Common();
        environment["Urls"] = ApiUri.AbsoluteUri.TrimEnd('/');
        environment["Fleet__Cluster__ClusterId"] = _options.ClusterId;
        environment["Fleet__Api__Tokens__0__Name"] = "bench";
        environment["Fleet__Api__Tokens__0__Token"] = Token;
        environment["Fleet__Api__Tokens__0__Role"] = "maintainer";
        environment["Fleet__Agents__EnrollSecrets__0"] = EnrollSecret;
        environment["Fleet__Benchmark__BaselineEndpoints"] = "true";
        Api = ProductProcess.Start(
            "api",
            Path.Combine(_options.RepoRoot, "Api/bin/Release/net10.0/Fleet.Orleans.Api.dll"),
            Path.Combine(_options.ResultsDir, "api.log"),
            _pidFile,
            environment);
        await WaitReadyAsync(cancellationToken);
    }

    /// <summary>Kills the silo (a crash) or stops it gracefully, and starts a new one on the same ports.</summary>
    public async Task RestartSiloAsync(bool crash, CancellationToken cancellationToken)
    {
        if (Silo is { } silo)
        {
            if (crash)
            {
                silo.Kill();
            }
            else
            {
                await silo.StopAsync(TimeSpan.FromSeconds(30));
            }

            silo.Dispose();
        }

        await StartSiloAsync(cancellationToken);
        await WaitReadyAsync(cancellationToken);
    }

    /// <summary>Waits until the Api reaches the cluster and storage again.</summary>
    public async Task WaitReadyAsync(CancellationToken cancellationToken) =>
        await WaitHttpAsync(Api!, new Uri(ApiUri, "readyz"), TimeSpan.FromSeconds(120), cancellationToken);

    public void Dispose()
    {
        Api?.Dispose();
        Silo?.Dispose();
    }

    private Dictionary<string, string> Common() => new(StringComparer.Ordinal)
    {
        ["ConnectionStrings__FleetStorage"] = _options.StorageConnectionString,
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
    };

    private static async Task WaitHttpAsync(ProductProcess process, Uri url, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(3) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"{process.Name} exited before {url} answered; last lines of {process.LogPath}:\n{process.LogTail()}");
            }

            try
            {
                using var response = await http.GetAsync(url, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(250, cancellationToken);
        }

        throw new TimeoutException($"{url} did not answer 2xx within {timeout.TotalSeconds:0} s; see {process.LogPath}");
    }

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
