using System.Diagnostics;
using System.Runtime.InteropServices;
using Fleet.AgentSimulator;
using Fleet.AgentSimulator.Mdm;

var parsed = OptionsParser.Parse(args, Environment.GetEnvironmentVariable);
if (parsed.ShowHelp)
{
    Console.WriteLine(SimulatorOptions.Usage);

    return 0;
}

if (parsed.Options is null)
{
    Console.Error.WriteLine($"error: {parsed.Error}. See --help.");

    return 2;
}

var options = parsed.Options;
var (pki, pkiError) = LoadPki();
if (pkiError is not null)
{
    Console.Error.WriteLine($"error: {pkiError}. See --help.");

    return 2;
}

using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency };
using var http = new HttpClient(handler) { Timeout = SimulatorOptions.RequestTimeout };
var counters = new RequestCounters();
var agents = HostPlan.CreateAgents(options, http, TimeProvider.System, pki, counters);
await using var gateway = await StartPushGatewayAsync();
if (options.Mdm && options.MacCount > 0 && gateway is null)
{
    return 1;
}

using var transport = pki is null ? null : CreateTransport(pki);
var mdm = transport is null ? null : new MdmClient(transport);
ConsoleReport.PrintStart(options, agents, gateway, pki);

using var stopping = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
if (options.Duration is { } duration)
{
    stopping.CancelAfter(duration);
}

var clock = Stopwatch.StartNew();
var errors = new ErrorLog(clock);
using var storms = new ReconnectStorm();
var scheduler = new AgentScheduler(options, errors, storms);
var running = agents.Select((agent, index) => scheduler.RunAsync(agent, index + 1, stopping.Token)).ToList();
if (gateway is not null && mdm is not null)
{
    running.AddRange(agents.Where(agent => agent.Mac is not null)
        .Select(agent => scheduler.RunMacAsync(agent, mdm, stopping.Token)));
}

using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, RaiseStorm);
var stats = options.StatsFile is { } statsFile
    ? RequestStats.WriteEverySecondAsync(statsFile, counters, TimeProvider.System, stopping.Token)
    : Task.CompletedTask;
var storming = options.ReconnectStorm is { } every ? RaiseStormsAsync(every) : Task.CompletedTask;
await PrintStatusUntilStoppedAsync();
await Task.WhenAll(running);
await Task.WhenAll(stats, storming);
if (options.StatsFile is not null)
{
    RequestStats.Append(options.StatsFile, counters, TimeProvider.System);
}

ConsoleReport.PrintTotals(clock, agents, errors, gateway, mdm);
Console.WriteLine($"Requests: {RequestStats.Describe(counters)}");

return 0;

// Only Macs that enroll in MDM need identities, and only TLS needs the server certificate to pin.
(DevicePki? Pki, string? Error) LoadPki()
{
    if (!options.Mdm || options.MacCount == 0)
    {
        return (null, null);
    }

    var folder = Path.GetFullPath(options.PkiFolder);

    return DevicePki.TryLoad(folder, serverCertificate: !options.MdmSignature, TimeProvider.System, out var loaded, out var error)
        ? (loaded, null)
        : (null, error);
}

MdmTransport CreateTransport(DevicePki loaded) => options.MdmSignature
    ? new SignedMdmTransport(http, options.Api)
    : new TlsMdmTransport(
        options.MdmUrl,
        loaded.ServerCertificate ?? throw new InvalidOperationException("the PKI was loaded without server.pem"),
        SimulatorOptions.RequestTimeout);

async Task<PushGateway?> StartPushGatewayAsync()
{
    if (!options.Mdm || options.MacCount == 0)
    {
        return null;
    }

    try
    {
        var started = await PushGateway.StartAsync(options.PushPort, options.PushCertificateExpired, CancellationToken.None);
        foreach (var mac in agents.Select(agent => agent.Mac).OfType<MacDevice>())
        {
            started.Register(mac);
        }

        return started;
    }
    catch (IOException exception)
    {
        Console.Error.WriteLine(
            $"error: the push gateway cannot listen on 127.0.0.1:{options.PushPort}: {exception.Message} " +
            "Give another --push-port (and the service the same Fleet__Mdm__Push__GatewayUrl), or --no-mdm.");

        return null;
    }
}

async Task RaiseStormsAsync(TimeSpan every)
{
    using var timer = new PeriodicTimer(every);
    try
    {
        while (await timer.WaitForNextTickAsync(stopping.Token))
        {
            RaiseStorm(null);
        }
    }
    catch (OperationCanceledException)
    {
        // Stopping: Ctrl-C or the end of --duration.
    }
}

// SIGHUP lets a chaos driver break a storm at the moment it chooses.
void RaiseStorm(PosixSignalContext? context)
{
    if (context is not null)
    {
        context.Cancel = true;
    }

    storms.Trigger();
    Console.WriteLine($"{ConsoleReport.Stamp(clock)} reconnect storm {storms.Count}: every agent drops its node key and enrolls again now");
}

void Stop(PosixSignalContext context)
{
    // The first signal stops the agents cleanly and prints the totals; a second one ends the process at once.
    context.Cancel = !stopping.IsCancellationRequested;
    stopping.Cancel();
}

async Task PrintStatusUntilStoppedAsync()
{
    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(10));
    try
    {
        while (await timer.WaitForNextTickAsync(stopping.Token))
        {
            ConsoleReport.PrintStatus(clock, agents, errors, gateway, mdm);
        }
    }
    catch (OperationCanceledException)
    {
        // Stopping: Ctrl-C or the end of --duration.
    }
}

// Kestrel's framework would make the entry class public; the test project also hosts the Api's public Program.
internal sealed partial class Program;
