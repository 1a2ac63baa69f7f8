using Fleet.AgentSimulator.Mdm;

namespace Fleet.AgentSimulator;

/// <summary>What to simulate and against which Api; filled from the command line and the environment.</summary>
public sealed class SimulatorOptions
{
    /// <summary>Environment variable read when <c>--api</c> is not given.</summary>
    public const string ApiUrlVariable = "FLEET_API_URL";

    /// <summary>Environment variable read when <c>--enroll-secret</c> is not given.</summary>
    public const string EnrollSecretVariable = "FLEET_ENROLL_SECRET";

    public const int DefaultSeed = 1;

    public const int DefaultConcurrency = 64;

    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    /// <summary>The loopback push gateway's port; the service's <c>Fleet:Mdm:Push:GatewayUrl</c> points at it.</summary>
    public const int DefaultPushPort = 2197;

    /// <summary>How often an awake Mac starts an MDM session when no push comes.</summary>
    public static readonly TimeSpan DefaultMdmPoll = TimeSpan.FromSeconds(60);

    /// <summary>Where the development PKI is looked for: <c>tools/start</c>'s data folder, under the current directory.</summary>
    public static readonly string DefaultPkiFolder = DevicePki.DefaultFolder;

    /// <summary>The Api's HTTPS listener that <c>tools/start</c> opens for MDM with client certificates.</summary>
    public static readonly Uri DefaultMdmUrl = new("https://127.0.0.1:5443");

    /// <summary>How long a simulated Mac's identity is valid, like a real enrollment's.</summary>
    public const int DefaultIdentityDays = 365;

    /// <summary>A request to the Api that takes longer than this counts as an error.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The Api's base address.</summary>
    public required Uri Api { get; init; }

    /// <summary>The osquery enroll secret every host sends.</summary>
    public required string EnrollSecret { get; init; }

    /// <summary>How many hosts of each profile, in <see cref="HostProfile.All"/> order.</summary>
    public required IReadOnlyList<(HostProfile Profile, int Count)> Hosts { get; init; }

    /// <summary>Time between one host's check-ins, before jitter.</summary>
    public TimeSpan Interval { get; init; } = DefaultInterval;

    /// <summary>When to stop on its own; <see langword="null"/> runs until Ctrl-C.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Makes host identities and jitter repeatable from run to run.</summary>
    public int Seed { get; init; } = DefaultSeed;

    /// <summary>Most connections open to the Api at once.</summary>
    public int Concurrency { get; init; } = DefaultConcurrency;

    /// <summary>Faults to hand out, each to a number of hosts taken from the end of the host list.</summary>
    public IReadOnlyList<(FaultMode Mode, int Count)> Faults { get; init; } = [];

    /// <summary>Whether Macs enroll in MDM and run the push gateway; off, they are osquery agents only.</summary>
    public bool Mdm { get; init; } = true;

    /// <summary>MDM behaviours to hand out, each to a number of Macs taken from the end of the Macs.</summary>
    public IReadOnlyList<(MdmBehaviour Mode, int Count)> MdmBehaviours { get; init; } = [];

    /// <summary>The loopback push gateway's port on 127.0.0.1.</summary>
    public int PushPort { get; init; } = DefaultPushPort;

    /// <summary>Whether the push gateway refuses every push as if the push certificate had expired.</summary>
    public bool PushCertificateExpired { get; init; }

    /// <summary>The backstop: an awake Mac starts a session this long after its last one when no push comes.</summary>
    public TimeSpan MdmPoll { get; init; } = DefaultMdmPoll;

    /// <summary>The folder with <c>device-ca.pem</c>, <c>device-ca.key</c> and <c>server.pem</c>.</summary>
    public string PkiFolder { get; init; } = DefaultPkiFolder;

    /// <summary>The Api's HTTPS address for MDM with the Mac's identity as client certificate.</summary>
    public Uri MdmUrl { get; init; } = DefaultMdmUrl;

    /// <summary>Whether MDM goes over <see cref="Api"/> with an <c>Mdm-Signature</c> header instead of TLS to <see cref="MdmUrl"/>.</summary>
    public bool MdmSignature { get; init; }

    /// <summary>How long each Mac's identity is valid from the start of the run.</summary>
    public TimeSpan IdentityValidity { get; init; } = TimeSpan.FromDays(DefaultIdentityDays);

    /// <summary>How many Macs, from the front of the Macs, start with an identity that has already expired.</summary>
    public int ExpiredIdentities { get; init; }

    /// <summary>How far the agents' clocks are ahead of the server's (behind when negative).</summary>
    public TimeSpan ClockSkew { get; init; }

    /// <summary>Time between reconnect storms, in which every agent drops its node key and enrolls again at once.</summary>
    public TimeSpan? ReconnectStorm { get; init; }

    /// <summary>A file to append a line of request counts to every second; null for none.</summary>
    public string? StatsFile { get; init; }

    public int HostCount => Hosts.Sum(host => host.Count);

    public int MacCount => Hosts.Where(host => host.Profile.IsMac).Sum(host => host.Count);

    public const string Usage = """
        Simulates osquery agents against the Fleet.Orleans Api, replaying real osquery request bodies. The Macs
        also enroll over Apple MDM and listen for pushes on a loopback push gateway.

        Usage:
          dotnet run --project tools/AgentSimulator -- --api <url> --enroll-secret <secret>
              [--macos14 N] [--macos15 N] [--macos13 N] [--ubuntu N] [--interval 10s] [--duration 5m]
              [--fault <kind>:N[:SECONDS]]... [--seed 1] [--concurrency 64]
              [--mdm-behaviour <kind>:N[:SESSIONS]]... [--push-port 2197] [--push-cert-expired]
              [--mdm-poll 60s] [--pki DIR] [--mdm-url <url> | --mdm-signature] [--identity-days 365]
              [--identity-expired N] [--no-mdm] [--clock-skew 300s] [--reconnect-storm 60s] [--stats FILE]

        Options:
          --api <url>              Api base address, e.g. http://127.0.0.1:5080. Default: $FLEET_API_URL.
          --enroll-secret <secret> osquery enroll secret. Default: $FLEET_ENROLL_SECRET.
          --macos14 <N>            Hosts replaying macOS 14.1.2 (23B92) payloads. Default 0.
          --macos15 <N>            Hosts replaying macOS 15.1 (24B83) payloads (derived from 14.1.2). Default 0.
          --macos13 <N>            Hosts replaying macOS 13.6.2 (22G320) payloads. Default 0.
          --ubuntu <N>             Hosts replaying Ubuntu 22.04 payloads. Default 0.
          --interval <time>        Time between one host's check-ins, with +/-10% jitter. Default 10s.
                                   Config is fetched every 6th check-in.
          --duration <time>        Stop after this long. Default: run until Ctrl-C.
          --fault <spec>           Give an osquery fault to N hosts, taken from the end of the host list
                                   (repeatable; later --fault options take hosts further forward):
                                     silent:N          enroll, then never check in again
                                     no-write:N        read distributed queries, never write
                                     late:N:SECONDS    write results SECONDS after the read
                                     error:N           write fleet_detail_query_os_version with
                                                       status 1 "no such table: os_version"
          --seed <n>               Host UUIDs, serials and jitter derive from it (0-99999999). Default 1.
          --concurrency <n>        Most connections open to the Api at once. Default 64. MDM over TLS
                                   is apart: each Mac keeps one connection for its identity.

          --clock-skew <time>      The agents' clocks run this far ahead of the machine's, or behind with a
                                   leading '-', e.g. -5m: what they stamp (profile install dates, identity
                                   validity) is skewed against the server's time. Default 0.
          --reconnect-storm <time> Every <time>, all agents drop their node keys and enroll again at once,
                                   then check in at once. Default: no storms; SIGHUP breaks one any time.
          --stats <file>           Append one JSON line a second with the requests the agents sent so far:
                                   {"at", "attempted", "succeeded", "failed": {"503": n, "timeout": n,
                                   "connection": n, ...}}. The totals line also shows them.

        MDM (Macs only):
          --mdm-behaviour <spec>   Give an MDM behaviour to N Macs, taken from the end of the Macs
                                   (repeatable, like --fault); the other Macs are normal:
                                     notnow:N:SESSIONS  answer NotNow to every command in the first
                                                        SESSIONS sessions that carry one (Power Nap,
                                                        locked keychain), then behave
                                     lose-ack:N         install profiles, but every Acknowledged report
                                                        for InstallProfile is lost; osquery still
                                                        reports the profile
                                     asleep:N           enroll, then ignore pushes and never poll
                                     mdm-error:N        answer InstallProfile with Error, ErrorChain
                                                        4001 MCProfileErrorDomain "The profile … could
                                                        not be installed."
                                     renewal-notnow:N:TIMES
                                                        answer each identity renewal NotNow TIMES
                                                        times, then install it and acknowledge
                                     renewal-ignore:N   never answer an identity renewal: send no
                                                        report for it (the session ends there)
          --push-port <port>       Port of the loopback push gateway on 127.0.0.1. Default 2197; the
                                   service's Fleet__Mdm__Push__GatewayUrl must point at it.
          --push-cert-expired      The gateway answers every push 403 ExpiredProviderToken.
          --mdm-poll <time>        An awake Mac also starts a session this long after its last one
                                   when no push comes. Default 60s.
          --pki <dir>              The development PKI tools/start creates: device-ca.pem and
                                   device-ca.key issue each Mac's identity (ECDSA P-256, CN=<UDID>,
                                   client authentication, random serial); server.pem is the only
                                   certificate the Macs accept from the Api over TLS (pinned: no
                                   system trust). Default .data/dev/pki under the current directory.
          --mdm-url <url>          The Api's HTTPS address for MDM; every request presents the Mac's
                                   identity as TLS client certificate. Default https://127.0.0.1:5443.
          --mdm-signature          Send MDM over --api instead, as behind a load balancer that ends
                                   TLS: each request carries Mdm-Signature, a base64 detached CMS
                                   signature of its body made with the Mac's identity.
          --identity-days <n>      Identities are valid this many days from now (at most until the
                                   CA's own end); fewer days reach the service's renewal window
                                   sooner. Default 365.
          --identity-expired <N>   The first N Macs start with an identity that already expired.
          --no-mdm                 Macs are osquery agents only: no MDM, no push gateway.
          -h, --help               Show this help.

        Times are a number with an optional unit: 500ms, 10s, 5m, 1h (no unit means seconds).
        Hosts are numbered from 1: macos14 first, then macos15, macos13, ubuntu. Host N gets
        UUID <seed, 8 digits>-0000-4000-8000-<N, 12 digits>, serial SIM<seed mod 1000, 3 digits><N, 6 digits>
        and hostname sim-<profile>-<N, 4 digits>, e.g. 00000001-0000-4000-8000-000000000007, SIM001000007,
        sim-macos14-0007. A Mac's MDM UDID is its UUID. The host table printed at start shows each host's
        fault, its identity's expiry and its MDM behaviour. A Mac starts with the two profiles of the real `profiles -C` output in
        test/payloads/osquery-extension and reports them, and what MDM installed, in
        fleet_detail_query_mdm_config_profiles_darwin and in ProfileList answers.
        A Mac that installs a renewed identity (the com.fleet-orleans.mdm.identity profile with its PKCS#12)
        acknowledges with its old identity and presents the new one from its next request.
        Prints a status line every 10 s, and totals on Ctrl-C or at the end of --duration; the MDM line
        counts identities renewed and requests the Api refused for their identity (401 and 403).
        """;
}
