using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>What a Mac says about itself in check-ins and <c>DeviceInformation</c> answers.</summary>
public sealed record MacFacts(
    string OsVersion, string BuildVersion, string SerialNumber, string DeviceName, string ModelName, string ProductName);

/// <summary>What the Mac sends next in a session: a report, or nothing when the report was lost and the session ends.</summary>
/// <param name="Report">The plist to send, or null when it never arrives.</param>
/// <param name="Status">The report's <c>Status</c>, or <c>lost</c>.</param>
public sealed record MdmAnswer(string? Report, string Status);

/// <summary>
/// The MDM side of one simulated Mac: its enrollment messages, its push credentials, its identity, its installed
/// profiles, and how it answers each command according to its <see cref="MdmBehaviour"/>. Sending is someone else's
/// job (<see cref="MdmClient"/>), so the answers can be driven and checked without a server. One session runs at a
/// time; profiles and counters may be read from any thread.
/// </summary>
public sealed class MacDevice
{
    /// <summary>The error macOS reports when a profile cannot be installed.</summary>
    public const long ProfileErrorCode = 4001;

    public const string ProfileErrorDomain = "MCProfileErrorDomain";

    /// <summary>The <c>PayloadIdentifier</c> of the profile that installs a renewed MDM identity.</summary>
    public const string IdentityProfileIdentifier = "com.fleet-orleans.mdm.identity";

    /// <summary>The payload type of an identity (key and certificate) in a PKCS#12 with a password.</summary>
    public const string Pkcs12PayloadType = "com.apple.security.pkcs12";

    private readonly TimeProvider _clock;
    private readonly Lock _lock = new();
    private readonly List<MacProfile> _profiles = [.. MacProfiles.Baseline];
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Dictionary<string, long> _answers = new(StringComparer.Ordinal);
    private DeviceIdentity? _identity;
    private DeviceIdentity? _installedIdentity;
    private int _notNowSessionsLeft;
    private int _renewalNotNowsLeft;
    private bool _notNowThisSession;
    private long _sessions;
    private long _pushesReceived;
    private long _pushesIgnored;
    private long _identitiesInstalled;

    /// <summary>A Mac that enrolls with <paramref name="identity"/>; without one it presents none.</summary>
    public MacDevice(string udid, MacFacts facts, MdmBehaviour behaviour, TimeProvider clock, DeviceIdentity? identity = null)
    {
        _clock = clock;
        _identity = identity;
        _notNowSessionsLeft = behaviour.Kind == MdmBehaviourKind.NotNow ? behaviour.NotNowCount : 0;
        _renewalNotNowsLeft = RenewalNotNows(behaviour);
        Udid = udid;
        Facts = facts;
        Behaviour = behaviour;
        Token = RandomNumberGenerator.GetBytes(32);
        PushMagic = Guid.NewGuid().ToString("D").ToUpperInvariant();
        Topic = "com.apple.mgmt.External." + Guid.NewGuid().ToString("D");
    }

    public string Udid { get; }

    public MacFacts Facts { get; }

    public MdmBehaviour Behaviour { get; }

    /// <summary>The APNs device token the Mac sends in TokenUpdate.</summary>
    public byte[] Token { get; }

    /// <summary>The token as a push names it: lower-case hex.</summary>
    public string TokenHex => Convert.ToHexStringLower(Token);

    public string PushMagic { get; }

    public string Topic { get; }

    /// <summary>Whether the Mac ever checks in on its own, on a push or a poll.</summary>
    public bool Awake => Behaviour.Kind != MdmBehaviourKind.Asleep;

    public long Sessions => Interlocked.Read(ref _sessions);

    public long PushesReceived => Interlocked.Read(ref _pushesReceived);

    public long PushesIgnored => Interlocked.Read(ref _pushesIgnored);

    /// <summary>The identity the Mac presents on its next request.</summary>
    public DeviceIdentity? Identity => Volatile.Read(ref _identity);

    /// <summary>Renewed identities it installed from an identity profile.</summary>
    public long IdentitiesInstalled => Interlocked.Read(ref _identitiesInstalled);

    /// <summary>Commands answered, by the report's status (<c>lost</c> for an acknowledgement that never arrived).</summary>
    public IReadOnlyDictionary<string, long> Answers
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, long>(_answers, StringComparer.Ordinal);
            }
        }
    }

    public IReadOnlyList<MacProfile> Profiles
    {
        get
        {
            lock (_lock)
            {
                return [.. _profiles];
            }
        }
    }

    /// <summary>The <c>Authenticate</c> check-in, with the keys a Mac sends.</summary>
    public string AuthenticateMessage() => Plist.Write(new()
    {
        ["BuildVersion"] = Facts.BuildVersion,
        ["DeviceName"] = Facts.DeviceName,
        ["MessageType"] = "Authenticate",
        ["Model"] = Facts.ProductName,
        ["ModelName"] = Facts.ModelName,
        ["OSVersion"] = Facts.OsVersion,
        ["ProductName"] = Facts.ProductName,
        ["SerialNumber"] = Facts.SerialNumber,
        ["Topic"] = Topic,
        ["UDID"] = Udid,
    });

    /// <summary>The <c>TokenUpdate</c> check-in that tells the server how to push to this Mac.</summary>
    public string TokenUpdateMessage() => Plist.Write(new()
    {
        ["AwaitingConfiguration"] = false,
        ["MessageType"] = "TokenUpdate",
        ["PushMagic"] = PushMagic,
        ["Token"] = Token,
        ["Topic"] = Topic,
        ["UDID"] = Udid,
    });

    /// <summary>A push arrived for this Mac. An asleep Mac, or a push with another Mac's magic, does not wake.</summary>
    public void Push(string? pushMagic)
    {
        Interlocked.Increment(ref _pushesReceived);
        if (!Awake || !string.Equals(pushMagic, PushMagic, StringComparison.OrdinalIgnoreCase))
        {
            Interlocked.Increment(ref _pushesIgnored);
            return;
        }

        _wake.Writer.TryWrite(true);
    }

    /// <summary>Waits for a push or for <paramref name="poll"/> to pass; true when a push woke the Mac.</summary>
    public async Task<bool> WaitForWakeAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(poll);
        try
        {
            return await _wake.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Starts a session: the first report is <c>Idle</c>.</summary>
    public string BeginSession()
    {
        Interlocked.Increment(ref _sessions);
        _notNowThisSession = false;

        return Plist.Write(new() { ["Status"] = "Idle", ["UDID"] = Udid });
    }

    /// <summary>
    /// The report last answered has been sent (or lost on the way). A renewed identity installed by that command is the
    /// one the Mac presents from now on: the acknowledgement itself still goes out with the identity it replaces.
    /// </summary>
    public void ReportSent()
    {
        if (Interlocked.Exchange(ref _installedIdentity, null) is { } installed)
        {
            Volatile.Write(ref _identity, installed);
        }
    }

    /// <summary>Ends a session; a NotNow Mac has one NotNow session fewer left once it said NotNow in this one.</summary>
    public void EndSession()
    {
        ReportSent();
        if (_notNowThisSession && _notNowSessionsLeft > 0)
        {
            _notNowSessionsLeft--;
        }
    }

    /// <summary>Runs (or declines) one command plist from the server and returns the report to send next.</summary>
    public MdmAnswer Answer(string commandPlist)
    {
        Dictionary<string, object> message;
        try
        {
            message = Plist.Read(commandPlist);
        }
        catch (FormatException)
        {
            return Count(Report("CommandFormatError", null));
        }

        var uuid = message.GetValueOrDefault("CommandUUID") as string;
        if (uuid is null || message.GetValueOrDefault("Command") is not Dictionary<string, object> command)
        {
            return Count(Report("CommandFormatError", uuid));
        }

        if (_notNowSessionsLeft > 0)
        {
            _notNowThisSession = true;

            return Count(Report("NotNow", uuid));
        }

        return Count((command.GetValueOrDefault("RequestType") as string) switch
        {
            "DeviceInformation" => Report("Acknowledged", uuid, ("QueryResponses", QueryResponses())),
            "ProfileList" => Report("Acknowledged", uuid, ("ProfileList", ProfileList())),
            "InstallProfile" => InstallProfile(uuid, command),
            "RemoveProfile" => RemoveProfile(uuid, command),
            var other => Report("Error", uuid, ("ErrorChain", ErrorChain(12021, "MCMDMErrorDomain", $"Unknown command “{other}”."))),
        });
    }

    /// <summary>The Mac's rows for Fleet's <c>mdm_config_profiles_darwin</c> detail query.</summary>
    public JsonArray OsqueryProfileRows() => [.. Profiles.Select(profile => profile.ToOsqueryRow())];

    private MdmAnswer InstallProfile(string uuid, Dictionary<string, object> command)
    {
        Dictionary<string, object> profile;
        try
        {
            var payload = command.GetValueOrDefault("Payload") as byte[] ?? throw new FormatException("no Payload");
            profile = Plist.Read(System.Text.Encoding.UTF8.GetString(payload));
        }
        catch (FormatException)
        {
            return Report("CommandFormatError", uuid);
        }

        if (profile.GetValueOrDefault("PayloadIdentifier") is not string identifier)
        {
            return Report("CommandFormatError", uuid);
        }

        var name = profile.GetValueOrDefault("PayloadDisplayName") as string ?? identifier;
        var renewal = identifier == IdentityProfileIdentifier;
        if (renewal && DeclineRenewal(uuid) is { } declined)
        {
            return declined;
        }

        if (Behaviour.Kind == MdmBehaviourKind.MdmError)
        {
            var description = $"The profile “{name}” could not be installed.";

            return Report("Error", uuid, ("ErrorChain", ErrorChain(ProfileErrorCode, ProfileErrorDomain, description)));
        }

        var (identity, unreadable) = renewal ? ReadIdentity(uuid, profile, name) : (null, null);
        if (unreadable is not null)
        {
            return unreadable;
        }

        var installed = new MacProfile(
            identifier, name, profile.GetValueOrDefault("PayloadUUID") as string ?? uuid, Now(), Managed: true);
        lock (_lock)
        {
            _profiles.RemoveAll(existing => existing.Identifier == identifier);
            _profiles.Add(installed);
        }

        if (identity is not null)
        {
            Volatile.Write(ref _installedIdentity, identity);
            Interlocked.Increment(ref _identitiesInstalled);
            _renewalNotNowsLeft = RenewalNotNows(Behaviour);
        }

        var acknowledged = Report("Acknowledged", uuid);

        return Behaviour.Kind == MdmBehaviourKind.LoseAck ? new MdmAnswer(null, "lost") : acknowledged;
    }

    // A renewal-ignore Mac sends nothing for a renewal; a renewal-notnow Mac says NotNow to each renewal a few times first.
    private MdmAnswer? DeclineRenewal(string uuid)
    {
        if (Behaviour.Kind == MdmBehaviourKind.RenewalIgnore)
        {
            return new MdmAnswer(null, "ignored");
        }

        if (_renewalNotNowsLeft > 0)
        {
            _renewalNotNowsLeft--;

            return Report("NotNow", uuid);
        }

        return null;
    }

    // The identity profile carries one PKCS#12 payload with its password; a profile without one is malformed.
    private (DeviceIdentity? Identity, MdmAnswer? Failure) ReadIdentity(string uuid, Dictionary<string, object> profile, string name)
    {
        var payload = (profile.GetValueOrDefault("PayloadContent") as List<object> ?? [])
            .OfType<Dictionary<string, object>>()
            .FirstOrDefault(content => content.GetValueOrDefault("PayloadType") as string == Pkcs12PayloadType);
        if (payload?.GetValueOrDefault("PayloadContent") is not byte[] pkcs12 || payload.GetValueOrDefault("Password") is not string password)
        {
            return (null, Report("CommandFormatError", uuid));
        }

        try
        {
            return (DeviceIdentity.FromPkcs12(pkcs12, password), null);
        }
        catch (CryptographicException exception)
        {
            var description = $"The identity in the profile “{name}” could not be read: {exception.Message}";

            return (null, Report("Error", uuid, ("ErrorChain", ErrorChain(ProfileErrorCode, ProfileErrorDomain, description))));
        }
    }

    private static int RenewalNotNows(MdmBehaviour behaviour) =>
        behaviour.Kind == MdmBehaviourKind.RenewalNotNow ? behaviour.NotNowCount : 0;

    // Removing a profile that is not there is acknowledged too: the Mac ends up as asked.
    private MdmAnswer RemoveProfile(string uuid, Dictionary<string, object> command)
    {
        if (command.GetValueOrDefault("Identifier") is not string identifier)
        {
            return Report("CommandFormatError", uuid);
        }

        lock (_lock)
        {
            _profiles.RemoveAll(existing => existing.Identifier == identifier);
        }

        return Report("Acknowledged", uuid);
    }

    private Dictionary<string, object> QueryResponses() => new()
    {
        ["BuildVersion"] = Facts.BuildVersion,
        ["DeviceName"] = Facts.DeviceName,
        ["ModelName"] = Facts.ModelName,
        ["OSVersion"] = Facts.OsVersion,
        ["ProductName"] = Facts.ProductName,
        ["SerialNumber"] = Facts.SerialNumber,
        ["UDID"] = Udid,
    };

    private List<object> ProfileList() => [.. Profiles.Select(profile => (object)new Dictionary<string, object>
    {
        ["HasRemovalPasscode"] = false,
        ["IsEncrypted"] = false,
        ["IsManaged"] = profile.Managed,
        ["PayloadDisplayName"] = profile.DisplayName,
        ["PayloadIdentifier"] = profile.Identifier,
        ["PayloadUUID"] = profile.Uuid,
        ["PayloadVersion"] = 1L,
    })];

    private static List<object> ErrorChain(long code, string domain, string description) =>
    [
        new Dictionary<string, object>
        {
            ["ErrorCode"] = code,
            ["ErrorDomain"] = domain,
            ["LocalizedDescription"] = description,
            ["USEnglishDescription"] = description,
        },
    ];

    private MdmAnswer Report(string status, string? commandUuid, params (string Key, object Value)[] extra)
    {
        var report = new Dictionary<string, object>(StringComparer.Ordinal);
        if (commandUuid is not null)
        {
            report["CommandUUID"] = commandUuid;
        }

        foreach (var (key, value) in extra)
        {
            report[key] = value;
        }

        report["Status"] = status;
        report["UDID"] = Udid;

        return new MdmAnswer(Plist.Write(report), status);
    }

    private MdmAnswer Count(MdmAnswer answer)
    {
        lock (_lock)
        {
            _answers[answer.Status] = _answers.GetValueOrDefault(answer.Status) + 1;
        }

        return answer;
    }

    // The profiles tool shows install dates to the second.
    private DateTimeOffset Now()
    {
        var now = _clock.GetUtcNow();

        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond));
    }
}
