using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using static Fleet.Tests.Infrastructure.DevicePlist;

namespace Fleet.Tests.Infrastructure;

/// <summary>How a <see cref="HttpTestMac"/> answers one command.</summary>
public enum MacAnswer
{
    Acknowledged,
    NotNow,
    Error,

    /// <summary>Runs the command (installs or removes the profile) but its report never arrives; the session ends.</summary>
    LoseAck,

    /// <summary>Acknowledges an InstallProfile without the profile ending up installed.</summary>
    AcknowledgeWithoutInstalling,

    /// <summary>Neither runs the command nor answers it; the session ends (a device that hung, or dropped the command).</summary>
    Ignore,
}

/// <summary>A command as the Mac received it. <paramref name="Offered"/> counts the times this UUID was offered, this one included.</summary>
public sealed record MacCommand(string Uuid, string RequestType, string? ProfileIdentifier, int Offered, int Session)
{
    /// <summary>The InstallProfile that carries a renewed MDM identity (the server's RenewIdentity).</summary>
    public bool IsIdentityRenewal => RequestType == "InstallProfile" && ProfileIdentifier == HttpTestMac.IdentityProfileIdentifier;
}

/// <summary>A command the Mac handled and how it answered.</summary>
public sealed record HandledCommand(MacCommand Command, MacAnswer Answer);

/// <summary>A profile installed on the Mac; its install date has whole seconds, as <c>profiles</c> reports it.</summary>
public sealed record MacInstalledProfile(string Identifier, string DisplayName, DateTimeOffset InstallDate);

/// <summary>
/// A Mac speaking only HTTP to the real Api: osquery with the real macOS 14.1.2 or 15.1 payloads, and Apple
/// MDM with check-in and command plists. It answers commands per <see cref="Script"/>, keeps the profiles
/// it installed, and reports them as <c>mdm_config_profiles_darwin</c> rows and in ProfileList answers.
/// Pushes reach it through <see cref="TestPushSender"/>: a test wakes it by running a session after one.
/// Every MDM request carries an <c>Mdm-Signature</c> by its <see cref="Identity"/>; when it runs an identity
/// renewal it installs the PKCS#12 and signs with the new identity from the request after the acknowledgement.
/// </summary>
public sealed class HttpTestMac
{
    public const string Topic = "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9";
    public const string CheckInContentType = "application/x-apple-aspen-mdm-checkin";
    public const string CommandContentType = "application/x-apple-aspen-mdm";

    public const string IdentityProfileIdentifier = "com.fleet-orleans.mdm.identity";

    private const string ProfilesQuery = "fleet_detail_query_mdm_config_profiles_darwin";
    private const int MaxCommandsPerSession = 20;

    private readonly HttpClient _http;
    private readonly MacFacts _facts;
    private readonly byte[] _token = RandomNumberGenerator.GetBytes(32);
    private readonly Dictionary<string, MacInstalledProfile> _installed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _offered = new(StringComparer.Ordinal);
    private readonly List<HandledCommand> _handled = [];
    private readonly List<X509Certificate2> _renewed = [];
    private readonly Lock _lock = new();
    private int _pushesAnswered;
    private X509Certificate2? _pendingIdentity;

    public HttpTestMac(HttpClient http, AgentProfile profile, string name)
    {
        _http = http;
        _facts = MacFacts.For(profile);
        Name = name;
        Agent = new TestAgent(http, profile, TestHostIdentity.New());
        Identity = TestPki.Identity(HostId);
    }

    /// <summary>The identity this Mac signs with; a test may replace it (an expiring one, another device's).</summary>
    public X509Certificate2 Identity { get; set; }

    /// <summary>
    /// Whether MDM requests carry an <c>Mdm-Signature</c>. A Mac whose client presents <see cref="Identity"/> as its
    /// TLS client certificate sends none, as a Mac talking to the server without a load balancer does.
    /// </summary>
    public bool SignsRequests { get; init; } = true;

    /// <summary>The identities this Mac installed from renewals, oldest first.</summary>
    public IReadOnlyList<X509Certificate2> Renewed
    {
        get
        {
            lock (_lock)
            {
                return [.. _renewed];
            }
        }
    }

    /// <summary>What the test calls this Mac in failure messages (its behaviour, say).</summary>
    public string Name { get; }

    public TestAgent Agent { get; }

    public string HostId => Agent.HostId;

    /// <summary>The push token, lower-case hex, as the server keys pushes by it.</summary>
    public string Token => Convert.ToHexStringLower(_token);

    /// <summary>Decides each answer; acknowledges everything unless a test says otherwise.</summary>
    public Func<MacCommand, MacAnswer> Script { get; set; } = _ => MacAnswer.Acknowledged;

    /// <summary>Device sessions run so far.</summary>
    public int Sessions { get; private set; }

    public IReadOnlyList<HandledCommand> Handled
    {
        get
        {
            lock (_lock)
            {
                return [.. _handled];
            }
        }
    }

    public IReadOnlyCollection<MacInstalledProfile> Installed
    {
        get
        {
            lock (_lock)
            {
                return [.. _installed.Values];
            }
        }
    }

    /// <summary>Pushes recorded for this Mac that no session has followed yet.</summary>
    public bool PushWaiting => TestPushSender.Shared.PushesTo(Token).Count > _pushesAnswered;

    public override string ToString() => $"{Name} Mac {HostId}";

    /// <summary>Enrolls over osquery, then over MDM: Authenticate, then TokenUpdate.</summary>
    public async Task EnrollAsync()
    {
        await Agent.EnrollAsync();
        await CheckInAsync(AuthenticatePlist());
        await CheckInAsync(TokenUpdatePlist());
    }

    /// <summary>Waits for a push this Mac has not answered yet, then runs a session.</summary>
    public async Task<IReadOnlyList<HandledCommand>> WakeAsync(TimeSpan timeout)
    {
        await WaitForPushAsync(timeout);

        return await SessionAsync();
    }

    /// <summary>Waits for a push this Mac has not answered yet.</summary>
    public Task WaitForPushAsync(TimeSpan timeout) =>
        TestPushSender.Shared.WaitForPushesAsync(Token, _pushesAnswered + 1, timeout);

    /// <summary>
    /// One device session: <c>Idle</c>, then each command offered answered per <see cref="Script"/>, until the
    /// server answers with an empty body or an acknowledgement is lost. Returns what it handled.
    /// </summary>
    public async Task<IReadOnlyList<HandledCommand>> SessionAsync()
    {
        _pushesAnswered = TestPushSender.Shared.PushesTo(Token).Count;
        var session = ++Sessions;
        var handled = new List<HandledCommand>();
        var next = await ReportAsync(Report("Idle", null), $"Idle of session {session}");
        while (next is { } body)
        {
            Assert.True(handled.Count < MaxCommandsPerSession, $"{this}: session {session} offered more than {MaxCommandsPerSession} commands");
            var command = ParseCommand(body, session);
            var answer = Script(command.Command);
            var report = Run(command, answer);
            var done = new HandledCommand(command.Command, answer);
            handled.Add(done);
            lock (_lock)
            {
                _handled.Add(done);
            }

            if (report is null)
            {
                UseRenewedIdentity(command.Command);
                break;
            }

            next = await ReportAsync(report, $"{answer} for {command.Command.RequestType} {command.Command.Uuid}");
            UseRenewedIdentity(command.Command);
        }

        return handled;
    }

    /// <summary>Sends the report for <paramref name="command"/> again, as a device does whose answer got no 200.</summary>
    public async Task<byte[]?> ResendAsync(HandledCommand command)
    {
        var report = command.Answer == MacAnswer.Acknowledged
            ? Acknowledgement(command.Command.RequestType, command.Command.Uuid)
            : Report(Words(command.Answer), command.Command.Uuid);

        return await ReportAsync(report, $"resent {command.Answer} for {command.Command.Uuid}");
    }

    /// <summary>The osquery check-in: a read and, when queries came back, the write answering them with this Mac's profiles.</summary>
    public async Task<IReadOnlyList<string>> CheckInOsqueryAsync()
    {
        var queries = await Agent.ReadAsync();
        if (queries.Count > 0)
        {
            var rows = new JsonObject { [ProfilesQuery] = new JsonArray([.. Installed.Select(OsqueryRow)]) };
            Assert.Equal(HttpStatusCode.OK, await Agent.WriteAsync(queries, replacedRows: rows));
        }

        return queries;
    }

    /// <summary>A profile appears on the Mac outside MDM's knowledge (a user installed it, or a late install finished).</summary>
    public void Install(string identifier, string displayName)
    {
        lock (_lock)
        {
            _installed[identifier] = new MacInstalledProfile(identifier, displayName, WholeSecondsNow());
        }
    }

    private async Task CheckInAsync(string plist)
    {
        using var response = await PutAsync("/mdm/checkin", plist, CheckInContentType);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{this}: check-in answered {(int)response.StatusCode} '{text}'");
    }

    /// <summary>PUTs a report; returns the next command's plist, or null for the empty 200 that ends a session.</summary>
    private async Task<byte[]?> ReportAsync(string plist, string what)
    {
        using var response = await PutAsync("/mdm/connect", plist, CommandContentType);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{this}: {what} answered {(int)response.StatusCode} '{Encoding.UTF8.GetString(body)}'");

        return body.Length == 0 ? null : body;
    }

    private Task<HttpResponseMessage> PutAsync(string path, string plist, string contentType) =>
        _http.PutAsync(
            path, MdmSigning.Content(Encoding.UTF8.GetBytes(plist), contentType, SignsRequests ? Identity : null), TestContext.Current.CancellationToken);

    private (MacCommand Command, IReadOnlyDictionary<string, XElement> Body) ParseCommand(byte[] plist, int session)
    {
        var root = ReadDict(plist);
        var uuid = Text(root, "CommandUUID");
        Assert.False(string.IsNullOrEmpty(uuid), $"{this}: a command without CommandUUID: {Encoding.UTF8.GetString(plist)}");
        var body = Entries(root["Command"]);
        var requestType = Text(body, "RequestType")!;
        var identifier = requestType switch
        {
            "InstallProfile" => Text(ReadDict(Convert.FromBase64String(body["Payload"].Value)), "PayloadIdentifier"),
            "RemoveProfile" => Text(body, "Identifier"),
            _ => null,
        };
        int offered;
        lock (_lock)
        {
            offered = _offered[uuid!] = _offered.GetValueOrDefault(uuid!) + 1;
        }

        return (new MacCommand(uuid!, requestType, identifier, offered, session), body);
    }

    /// <summary>Carries out the command as <paramref name="answer"/> says; returns the report, or null when it is lost.</summary>
    private string? Run((MacCommand Command, IReadOnlyDictionary<string, XElement> Body) received, MacAnswer answer)
    {
        var (command, body) = received;
        var runs = answer is MacAnswer.Acknowledged or MacAnswer.LoseAck;
        if (runs && command.IsIdentityRenewal)
        {
            InstallIdentity(body);
        }
        else if (runs && command.RequestType == "InstallProfile")
        {
            var profile = ReadDict(Convert.FromBase64String(body["Payload"].Value));
            Install(command.ProfileIdentifier!, Text(profile, "PayloadDisplayName") ?? string.Empty);
        }
        else if (runs && command.RequestType == "RemoveProfile")
        {
            lock (_lock)
            {
                _installed.Remove(command.ProfileIdentifier!);
            }
        }

        return answer switch
        {
            MacAnswer.LoseAck or MacAnswer.Ignore => null,
            MacAnswer.Acknowledged or MacAnswer.AcknowledgeWithoutInstalling => Acknowledgement(command.RequestType, command.Uuid),
            _ => Report(Words(answer), command.Uuid),
        };
    }

    /// <summary>Opens the renewal's PKCS#12 with its password, as the Mac's keychain would; it is used once the answer is sent.</summary>
    private void InstallIdentity(IReadOnlyDictionary<string, XElement> body)
    {
        var profile = ReadDict(Convert.FromBase64String(body["Payload"].Value));
        var payload = Entries(profile["PayloadContent"].Elements().Single());
        Assert.True(Text(payload, "PayloadType") == "com.apple.security.pkcs12", $"{this}: the identity profile's payload is {Text(payload, "PayloadType")}");
        var identity = X509CertificateLoader.LoadPkcs12(Convert.FromBase64String(payload["PayloadContent"].Value), Text(payload, "Password"));
        Assert.True(identity.HasPrivateKey, $"{this}: the renewed identity {identity.Subject} came without its key");
        lock (_lock)
        {
            _pendingIdentity = identity;
        }
    }

    private void UseRenewedIdentity(MacCommand command)
    {
        lock (_lock)
        {
            if (!command.IsIdentityRenewal || _pendingIdentity is null)
            {
                return;
            }

            _renewed.Add(_pendingIdentity);
            Identity = _pendingIdentity;
            _pendingIdentity = null;
        }
    }

    private string Acknowledgement(string requestType, string uuid) => requestType switch
    {
        "DeviceInformation" => Report("Acknowledged", uuid, ("QueryResponses", QueryResponses())),
        "ProfileList" => Report("Acknowledged", uuid, ("ProfileList", Array(Installed.Select(ProfileListEntry)))),
        _ => Report("Acknowledged", uuid),
    };

    private string Report(string status, string? uuid, params (string Key, XElement? Value)[] extra)
    {
        (string, XElement?)[] entries =
        [
            ("CommandUUID", StringValueOrNull(uuid)),
            ("ErrorChain", status == "Error" ? ErrorChain() : null),
            .. extra,
            ("Status", StringValue(status)),
            ("UDID", StringValue(HostId)),
        ];

        return Document(Dict(entries));
    }

    private static XElement ErrorChain() => Array(
    [
        Dict(
            ("ErrorCode", IntegerValue(4001)),
            ("ErrorDomain", StringValue("MCProfileErrorDomain")),
            ("LocalizedDescription", StringValue("The profile could not be installed.")),
            ("USEnglishDescription", StringValue("The profile could not be installed."))),
    ]);

    private string AuthenticatePlist() => Document(Dict(
        ("BuildVersion", StringValue(_facts.Build)),
        ("DeviceName", StringValue(_facts.DeviceName)),
        ("MessageType", StringValue("Authenticate")),
        ("Model", StringValue(_facts.Model)),
        ("ModelName", StringValue("MacBook Pro")),
        ("OSVersion", StringValue(_facts.OsVersion)),
        ("ProductName", StringValue(_facts.Model)),
        ("SerialNumber", StringValue(Agent.Identity.Serial)),
        ("Topic", StringValue(Topic)),
        ("UDID", StringValue(HostId))));

    private string TokenUpdatePlist() => Document(Dict(
        ("AwaitingConfiguration", new XElement("false")),
        ("MessageType", StringValue("TokenUpdate")),
        ("PushMagic", StringValue("CEFDF0BD-E342-4A27-8742-E930EA116B0A")),
        ("Token", Data(_token)),
        ("Topic", StringValue(Topic)),
        ("UDID", StringValue(HostId))));

    private XElement QueryResponses() => Dict(
        ("BuildVersion", StringValue(_facts.Build)),
        ("DeviceName", StringValue(_facts.DeviceName)),
        ("HostName", StringValue($"{_facts.DeviceName}.local")),
        ("ModelName", StringValue("MacBook Pro")),
        ("OSVersion", StringValue(_facts.OsVersion)),
        ("ProductName", StringValue(_facts.Model)),
        ("SerialNumber", StringValue(Agent.Identity.Serial)),
        ("UDID", StringValue(HostId)));

    private static XElement ProfileListEntry(MacInstalledProfile profile) => Dict(
        ("InstallDate", Date(profile.InstallDate)),
        ("PayloadDisplayName", StringValue(profile.DisplayName)),
        ("PayloadIdentifier", StringValue(profile.Identifier)),
        ("PayloadUUID", StringValue(Guid.NewGuid().ToString().ToUpperInvariant())));

    // The columns and install-date format of osquery's macos_profiles table.
    private static JsonObject OsqueryRow(MacInstalledProfile profile) => new()
    {
        ["display_name"] = profile.DisplayName,
        ["identifier"] = profile.Identifier,
        ["install_date"] = profile.InstallDate.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss '+0000'", CultureInfo.InvariantCulture),
    };

    private static string Words(MacAnswer answer) => answer switch
    {
        MacAnswer.NotNow => "NotNow",
        MacAnswer.Error => "Error",
        _ => "Acknowledged",
    };

    private static DateTimeOffset WholeSecondsNow()
    {
        var now = DateTimeOffset.UtcNow;

        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond));
    }

    /// <summary>What the Mac says about itself over MDM, matching its osquery payload.</summary>
    private sealed record MacFacts(string OsVersion, string Build, string Model, string DeviceName)
    {
        public static MacFacts For(AgentProfile profile) => profile.Name switch
        {
            "macos15" => new("15.1", "24B83", "MacBookPro18,3", "test-mac-15"),
            "macos14" => new("14.1.2", "23B92", "MacBookPro18,3", "test-mac-14"),
            _ => throw new ArgumentException($"{profile.Name} is not a macOS 14 or 15 payload.", nameof(profile)),
        };
    }
}
