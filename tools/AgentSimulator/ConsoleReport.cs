using System.Diagnostics;
using System.Globalization;
using Fleet.AgentSimulator.Mdm;

namespace Fleet.AgentSimulator;

/// <summary>What the simulator prints: the host table, then status lines, then totals.</summary>
internal static class ConsoleReport
{
    // The statuses a Mac answers commands with, "lost" for an acknowledgement that never arrived, and "ignored" for
    // a renewal a renewal-ignore Mac sent nothing for.
    private static readonly string[] s_answerStatuses = ["Acknowledged", "NotNow", "Error", "CommandFormatError", "lost", "ignored"];

    public static string Stamp(Stopwatch clock) =>
        string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed:hh\\:mm\\:ss}]");

    public static void PrintStart(
        SimulatorOptions options, IReadOnlyList<SimulatedAgent> agents, PushGateway? gateway, DevicePki? pki)
    {
        var duration = options.Duration is { } time ? $"{time.TotalSeconds:0.#} s" : "until Ctrl-C";
        var interval = options.Interval.TotalSeconds;
        Console.WriteLine(
            $"Simulating {agents.Count} osquery hosts against {options.Api} every {interval:0.#} s, {duration}, " +
            $"seed {options.Seed}, concurrency {options.Concurrency}.");
        if (gateway is not null)
        {
            var expired = options.PushCertificateExpired ? " (answers every push 403 ExpiredProviderToken)" : "";
            Console.WriteLine(
                $"Macs enroll in MDM; push gateway at {gateway.Url}{expired}; Macs poll every {options.MdmPoll.TotalSeconds:0.#} s.");
        }

        if (gateway is not null && pki is not null)
        {
            PrintIdentities(options, pki);
        }

        Console.WriteLine();
        Console.WriteLine(
            $"{"#",6}  {"host id",-36}  {"profile",-8}  {"hostname",-17}  {"serial",-12}  {"fault",-10}  {"identity",-10}  mdm");
        for (var i = 0; i < agents.Count; i++)
        {
            var (agent, host) = (agents[i], agents[i].Identity);
            Console.WriteLine(
                $"{i + 1,6}  {host.Uuid,-36}  {agent.Profile.Name,-8}  {host.Hostname,-17}  {host.Serial,-12}  " +
                $"{agent.Fault,-10}  {IdentityColumn(agent, gateway),-10}  {(gateway is null ? "" : agent.Mac?.Behaviour.ToString())}");
        }

        Console.WriteLine();
    }

    public static void PrintStatus(
        Stopwatch clock, IReadOnlyList<SimulatedAgent> agents, ErrorLog errors, PushGateway? gateway, MdmClient? mdm)
    {
        var suppressed = errors.TakeSuppressed();
        var note = suppressed > 0 ? $" ({suppressed} error lines not shown)" : "";
        Console.WriteLine($"{Stamp(clock)} {Counters(agents, errors)}{note}");
        if (gateway is not null && mdm is not null)
        {
            Console.WriteLine($"{Stamp(clock)} {MdmCounters(agents, gateway, mdm)}");
        }
    }

    public static void PrintTotals(
        Stopwatch clock, IReadOnlyList<SimulatedAgent> agents, ErrorLog errors, PushGateway? gateway, MdmClient? mdm)
    {
        Console.WriteLine();
        Console.WriteLine($"Stopped after {clock.Elapsed.TotalSeconds:0.0} s. Totals: {Counters(agents, errors)}");
        if (gateway is not null && mdm is not null)
        {
            Console.WriteLine($"MDM totals: {MdmCounters(agents, gateway, mdm)}");
        }
    }

    /// <summary>
    /// MDM sessions, commands by the Mac's answer, identities renewed, requests refused for their identity, and
    /// pushes as the Macs and the gateway saw them.
    /// </summary>
    public static string MdmCounters(IReadOnlyList<SimulatedAgent> agents, PushGateway gateway, MdmClient mdm)
    {
        var macs = agents.Select(agent => agent.Mac).OfType<MacDevice>().ToList();
        var answers = macs.SelectMany(mac => mac.Answers)
            .GroupBy(answer => answer.Key, answer => answer.Value)
            .ToDictionary(group => group.Key, group => group.Sum());
        var byAnswer = string.Join(", ", s_answerStatuses.Select(status => $"{status} {answers.GetValueOrDefault(status)}"));

        return $"mdm sessions {macs.Sum(mac => mac.Sessions)}, commands answered: {byAnswer}; " +
            $"identities renewed {macs.Sum(mac => mac.IdentitiesInstalled)}, " +
            $"identity refusals: 401 {mdm.Unauthorized}, 403 {mdm.Forbidden}; " +
            $"pushes received {macs.Sum(mac => mac.PushesReceived)} (ignored {macs.Sum(mac => mac.PushesIgnored)}), " +
            $"gateway: {gateway.Received} pushes, {gateway.Unregistered} unknown tokens, {gateway.Refused} refused";
    }

    private static void PrintIdentities(SimulatorOptions options, DevicePki pki)
    {
        var ca = Path.Combine(pki.Folder, DevicePki.CaCertificateFile);
        var expired = options.ExpiredIdentities > 0 ? $"; {options.ExpiredIdentities} already expired (the first Macs)" : "";
        Console.WriteLine(options.MdmSignature
            ? $"MDM over {options.Api} with Mdm-Signature (detached CMS of each body, signed by the Mac's identity)."
            : $"MDM over TLS to {options.MdmUrl}, the Mac's identity as client certificate; the server must present " +
                Path.Combine(pki.Folder, DevicePki.ServerCertificateFile) + ".");
        Console.WriteLine($"Identities: CN=<UDID> from {ca}, valid {options.IdentityValidity.TotalDays:0} days{expired}.");
    }

    private static string IdentityColumn(SimulatedAgent agent, PushGateway? gateway) =>
        (gateway, agent.Mac?.Identity) switch
        {
            (null, _) or (_, null) => "",
            (_, { } identity) when identity.NotAfter <= TimeProvider.System.GetUtcNow() => "expired",
            (_, { } identity) => identity.NotAfter.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        };

    private static string Counters(IReadOnlyList<SimulatedAgent> agents, ErrorLog errors) =>
        $"enrolled {agents.Count(agent => agent.IsEnrolled)}/{agents.Count}, " +
        $"reads {agents.Sum(agent => (long)agent.Reads)}, " +
        $"writes {agents.Sum(agent => (long)agent.Writes)}, " +
        $"queries answered {agents.Sum(agent => (long)agent.QueriesAnswered)}, " +
        $"errors {errors.Total}, " +
        $"re-enrolls {agents.Sum(agent => (long)agent.ReEnrolls)}";
}
