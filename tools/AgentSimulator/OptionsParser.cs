using System.Globalization;
using Fleet.AgentSimulator.Mdm;

namespace Fleet.AgentSimulator;

/// <summary>The outcome of reading the command line: options to run with, help to show, or an error.</summary>
public sealed record ParseResult(SimulatorOptions? Options, bool ShowHelp, string? Error);

/// <summary>Reads <see cref="SimulatorOptions"/> from the command line, falling back to the environment.</summary>
public static class OptionsParser
{
    // Timers and CancelAfter take at most about 49 days; no simulation needs to run that long.
    private static readonly TimeSpan s_maxTime = TimeSpan.FromDays(30);

    // The development CA lives ten years; an identity never outlives it anyway.
    private const int MaxIdentityDays = 3650;

    public static ParseResult Parse(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var api = environment(SimulatorOptions.ApiUrlVariable);
        var secret = environment(SimulatorOptions.EnrollSecretVariable);
        var counts = HostProfile.All.ToDictionary(profile => profile, _ => 0);
        var faults = new List<(FaultMode Mode, int Count)>();
        var interval = SimulatorOptions.DefaultInterval;
        TimeSpan? duration = null;
        var seed = SimulatorOptions.DefaultSeed;
        var concurrency = SimulatorOptions.DefaultConcurrency;
        var behaviours = new List<(MdmBehaviour Mode, int Count)>();
        var pushPort = SimulatorOptions.DefaultPushPort;
        var mdmPoll = SimulatorOptions.DefaultMdmPoll;
        var mdm = true;
        var pushCertificateExpired = false;
        string? pki = null;
        string? mdmUrl = null;
        var signature = false;
        var identityDays = SimulatorOptions.DefaultIdentityDays;
        var expiredIdentities = 0;
        var skew = TimeSpan.Zero;
        TimeSpan? storm = null;
        string? stats = null;

        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] is "-h" or "--help" or "-?")
            {
                return new ParseResult(null, ShowHelp: true, null);
            }

            if (args[i] is "--no-mdm" or "--push-cert-expired" or "--mdm-signature")
            {
                mdm &= args[i] != "--no-mdm";
                pushCertificateExpired |= args[i] == "--push-cert-expired";
                signature |= args[i] == "--mdm-signature";
                continue;
            }

            var (name, value) = SplitOption(args[i]);
            if (!name.StartsWith("--", StringComparison.Ordinal))
            {
                return Fail($"unexpected argument '{args[i]}'");
            }

            value ??= i + 1 < args.Count ? args[++i] : null;
            if (value is null)
            {
                return Fail($"{name} needs a value");
            }

            switch (name)
            {
                case "--api":
                    api = value;
                    break;
                case "--enroll-secret":
                    secret = value;
                    break;
                case "--macos14" or "--macos15" or "--macos13" or "--ubuntu" when TryParseCount(value, out var count):
                    counts[HostProfile.All.Single(profile => name == "--" + profile.Name)] = count;
                    break;
                case "--interval" when TryParseTime(value, out interval) && interval > TimeSpan.Zero:
                    break;
                case "--duration" when TryParseTime(value, out var time) && time > TimeSpan.Zero:
                    duration = time;
                    break;
                case "--fault" when TryParseFault(value, out var fault):
                    faults.Add(fault);
                    break;
                case "--seed" when TryParseCount(value, out seed) && seed <= HostIdentity.MaxSeed:
                    break;
                case "--concurrency" when TryParseCount(value, out concurrency) && concurrency > 0:
                    break;
                case "--mdm-behaviour" when MdmBehaviour.TryParse(value, out var behaviour):
                    behaviours.Add(behaviour);
                    break;
                case "--push-port" when TryParseCount(value, out pushPort) && pushPort is > 0 and <= 65535:
                    break;
                case "--mdm-poll" when TryParseTime(value, out mdmPoll) && mdmPoll > TimeSpan.Zero:
                    break;
                case "--pki" when value.Length > 0:
                    pki = value;
                    break;
                case "--mdm-url":
                    mdmUrl = value;
                    break;
                case "--identity-days" when TryParseCount(value, out identityDays) && identityDays is > 0 and <= MaxIdentityDays:
                    break;
                case "--identity-expired" when TryParseCount(value, out expiredIdentities):
                    break;
                case "--clock-skew" when TryParseSignedTime(value, out skew):
                    break;
                case "--reconnect-storm" when TryParseTime(value, out var every) && every > TimeSpan.Zero:
                    storm = every;
                    break;
                case "--stats" when value.Length > 0:
                    stats = value;
                    break;
                default:
                    return Fail(IsKnown(name) ? $"bad value for {name}: '{value}'" : $"unknown option {name}");
            }
        }

        var identities = new IdentityChoices(mdmUrl, signature, expiredIdentities);
        if ((Validate(api, secret, counts, faults) ?? ValidateMdm(counts, behaviours, mdm) ?? ValidateIdentities(counts, identities, mdm))
            is { } error)
        {
            return Fail(error);
        }

        var options = new SimulatorOptions
        {
            Api = new Uri(api!),
            EnrollSecret = secret!,
            Hosts = HostProfile.All.Select(profile => (profile, counts[profile])).ToList(),
            Interval = interval,
            Duration = duration,
            Seed = seed,
            Concurrency = concurrency,
            Faults = faults,
            Mdm = mdm,
            MdmBehaviours = behaviours,
            PushPort = pushPort,
            PushCertificateExpired = pushCertificateExpired,
            MdmPoll = mdmPoll,
            PkiFolder = pki ?? SimulatorOptions.DefaultPkiFolder,
            MdmUrl = mdmUrl is null ? SimulatorOptions.DefaultMdmUrl : new Uri(mdmUrl),
            MdmSignature = signature,
            IdentityValidity = TimeSpan.FromDays(identityDays),
            ExpiredIdentities = expiredIdentities,
            ClockSkew = skew,
            ReconnectStorm = storm,
            StatsFile = stats,
        };

        return new ParseResult(options, ShowHelp: false, null);
    }

    /// <summary>
    /// Reads a time such as <c>500ms</c>, <c>10s</c>, <c>5m</c> or <c>1h</c>; a bare number is seconds.
    /// </summary>
    public static bool TryParseTime(string text, out TimeSpan time)
    {
        var (number, unit) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], TimeSpan.FromMilliseconds(1)),
            _ when text.EndsWith('s') => (text[..^1], TimeSpan.FromSeconds(1)),
            _ when text.EndsWith('m') => (text[..^1], TimeSpan.FromMinutes(1)),
            _ when text.EndsWith('h') => (text[..^1], TimeSpan.FromHours(1)),
            _ => (text, TimeSpan.FromSeconds(1)),
        };
        var style = NumberStyles.AllowDecimalPoint;
        var parsed = double.TryParse(number, style, CultureInfo.InvariantCulture, out var value)
            && value * unit.TotalDays <= s_maxTime.TotalDays;
        time = parsed ? unit * value : TimeSpan.Zero;

        return parsed;
    }

    /// <summary>Reads a time as <see cref="TryParseTime"/> does, with an optional leading '-' for a negative one.</summary>
    public static bool TryParseSignedTime(string text, out TimeSpan time)
    {
        var negative = text.StartsWith('-');
        var parsed = TryParseTime(negative ? text[1..] : text, out time);
        time = negative ? -time : time;

        return parsed;
    }

    /// <summary>Reads <c>silent:N</c>, <c>no-write:N</c>, <c>late:N:SECONDS</c> or <c>error:N</c>.</summary>
    public static bool TryParseFault(string text, out (FaultMode Mode, int Count) fault)
    {
        fault = default;
        var parts = text.Split(':');
        if (parts.Length < 2 || !TryParseCount(parts[1], out var count) || count == 0)
        {
            return false;
        }

        var late = TimeSpan.Zero;
        FaultMode? mode = (parts[0], parts.Length) switch
        {
            ("silent", 2) => FaultMode.Silent,
            ("no-write", 2) => FaultMode.NoWrite,
            ("error", 2) => FaultMode.Error,
            ("late", 3) when TryParseTime(parts[2], out late) => FaultMode.Late(late),
            _ => null,
        };
        fault = mode is null ? default : (mode, count);

        return mode is not null;
    }

    private static string? Validate(
        string? api, string? secret, Dictionary<HostProfile, int> counts, List<(FaultMode Mode, int Count)> faults)
    {
        var hosts = counts.Values.Sum(count => (long)count);
        var faulty = faults.Sum(fault => (long)fault.Count);

        return (api, secret) switch
        {
            (null or "", _) => $"no Api address: give --api or set {SimulatorOptions.ApiUrlVariable}",
            _ when !Uri.TryCreate(api, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                => $"--api must be an absolute http or https address, not '{api}'",
            (_, null or "") =>
                $"no enroll secret: give --enroll-secret or set {SimulatorOptions.EnrollSecretVariable}",
            _ when hosts == 0 => "no hosts: give --macos14, --macos15, --macos13 or --ubuntu a count above 0",
            _ when hosts > HostIdentity.MaxNumber => $"at most {HostIdentity.MaxNumber} hosts, not {hosts}",
            _ when faulty > hosts => $"--fault asks for {faulty} faulty hosts but there are only {hosts}",
            _ => null,
        };
    }

    private static string? ValidateMdm(
        Dictionary<HostProfile, int> counts, List<(MdmBehaviour Mode, int Count)> behaviours, bool mdm)
    {
        var macs = counts.Where(count => count.Key.IsMac).Sum(count => (long)count.Value);
        var assigned = behaviours.Sum(behaviour => (long)behaviour.Count);

        return (mdm, assigned) switch
        {
            (false, > 0) => "--mdm-behaviour needs MDM, which --no-mdm turns off",
            _ when assigned > macs => $"--mdm-behaviour asks for {assigned} Macs but there are only {macs}",
            _ => null,
        };
    }

    private static string? ValidateIdentities(Dictionary<HostProfile, int> counts, IdentityChoices identities, bool mdm)
    {
        var macs = counts.Where(count => count.Key.IsMac).Sum(count => (long)count.Value);

        return identities switch
        {
            { ExpiredCount: > 0 } when !mdm => "--identity-expired needs MDM, which --no-mdm turns off",
            { ExpiredCount: var expired } when expired > macs => $"--identity-expired asks for {expired} Macs but there are only {macs}",
            { MdmUrl: not null, Signature: true } => "--mdm-url is the TLS address; --mdm-signature sends over --api instead: give one",
            { MdmUrl: { } url } when !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "https"
                => $"--mdm-url must be an absolute https address, not '{url}'",
            _ => null,
        };
    }

    private static (string Name, string? Value) SplitOption(string arg)
    {
        var equals = arg.IndexOf('=', StringComparison.Ordinal);

        return arg.StartsWith("--", StringComparison.Ordinal) && equals > 0
            ? (arg[..equals], arg[(equals + 1)..])
            : (arg, null);
    }

    private static bool IsKnown(string name) => name
        is "--api" or "--enroll-secret" or "--macos14" or "--macos15" or "--macos13" or "--ubuntu"
        or "--interval" or "--duration" or "--fault" or "--seed" or "--concurrency"
        or "--mdm-behaviour" or "--push-port" or "--mdm-poll" or "--pki" or "--mdm-url" or "--identity-days"
        or "--identity-expired" or "--clock-skew" or "--reconnect-storm" or "--stats";

    private static bool TryParseCount(string text, out int count) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out count);

    private static ParseResult Fail(string error) => new(null, ShowHelp: false, error);

    private sealed record IdentityChoices(string? MdmUrl, bool Signature, int ExpiredCount);
}
