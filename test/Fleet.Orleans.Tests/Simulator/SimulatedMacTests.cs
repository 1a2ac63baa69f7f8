using System.Text;
using Fleet.AgentSimulator.Mdm;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Simulator;

public sealed class SimulatedMacTests
{
    private const string Udid = "00000001-0000-4000-8000-000000000003";
    private static readonly DateTimeOffset s_now = new(2026, 3, 2, 9, 30, 15, 250, TimeSpan.Zero);
    private static readonly MacFacts s_facts = new("15.1", "24B83", "SIM001000003", "sim-macos15-0003", "MacBook Pro", "MacBookPro11,4");

    private readonly FakeTimeProvider _clock = new(s_now);

    [Fact]
    public void CheckIns_UseTheKeysOfTheRealNanomdmMessages()
    {
        var mac = NewMac(MdmBehaviour.Normal);

        var authenticate = Plist.Read(mac.AuthenticateMessage());
        var tokenUpdate = Plist.Read(mac.TokenUpdateMessage());

        var realAuthenticate = Plist.Read(Payloads.Read("nanomdm/Authenticate.2.plist"));
        var realTokenUpdate = Plist.Read(Payloads.Read("nanomdm/TokenUpdate.2.plist"));
        Assert.Equal(realAuthenticate.Keys.Where(key => key != "Challenge").Order(), authenticate.Keys.Order());
        Assert.Equal(realTokenUpdate.Keys.Order(), tokenUpdate.Keys.Order());
        Assert.Equal(("Authenticate", Udid, "SIM001000003", "15.1", "24B83"),
            (authenticate["MessageType"], authenticate["UDID"], authenticate["SerialNumber"], authenticate["OSVersion"], authenticate["BuildVersion"]));
        Assert.Equal(mac.Token, (byte[])tokenUpdate["Token"]);
        Assert.Equal(32, mac.Token.Length);
        Assert.Equal((mac.PushMagic, mac.Topic), (tokenUpdate["PushMagic"], tokenUpdate["Topic"]));
        Assert.StartsWith("com.apple.mgmt.External.", mac.Topic, StringComparison.Ordinal);
    }

    [Fact]
    public void Session_StartsWithIdle()
    {
        var mac = NewMac(MdmBehaviour.Normal);

        var idle = Plist.Read(mac.BeginSession());

        Assert.Equal(new Dictionary<string, object> { ["Status"] = "Idle", ["UDID"] = Udid }, idle);
    }

    [Fact]
    public void DeviceInformation_IsAcknowledgedWithTheMacsFacts()
    {
        var mac = NewMac(MdmBehaviour.Normal);

        var answer = mac.Answer(Command("5e1f6a8c-0000-4000-8000-000000000001", "DeviceInformation"));

        var report = Plist.Read(answer.Report!);
        Assert.Equal("Acknowledged", report["Status"]);
        Assert.Equal("5e1f6a8c-0000-4000-8000-000000000001", report["CommandUUID"]);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["BuildVersion"] = "24B83",
                ["DeviceName"] = "sim-macos15-0003",
                ["ModelName"] = "MacBook Pro",
                ["OSVersion"] = "15.1",
                ["ProductName"] = "MacBookPro11,4",
                ["SerialNumber"] = "SIM001000003",
                ["UDID"] = Udid,
            },
            report["QueryResponses"]);
    }

    [Fact]
    public void InstallProfile_OnANormalMac_IsAcknowledgedAndReportedByOsqueryWithItsInstallDate()
    {
        var mac = NewMac(MdmBehaviour.Normal);

        var answer = mac.Answer(InstallProfile("c0ffee00-0000-4000-8000-000000000001", "com.fleet.wifi", "Office Wi-Fi"));

        Assert.Equal("Acknowledged", Plist.Read(answer.Report!)["Status"]);
        Assert.Equal(
            [.. s_baselineRows, ("Office Wi-Fi", "com.fleet.wifi", "2026-03-02 09:30:15 +0000")],
            Rows(mac));
    }

    [Fact]
    public void ProfileListAndRemoveProfile_ListThenDropTheInstalledProfile()
    {
        var mac = NewMac(MdmBehaviour.Normal);
        mac.Answer(InstallProfile("c0ffee00-0000-4000-8000-000000000001", "com.fleet.wifi", "Office Wi-Fi"));

        var listed = Plist.Read(mac.Answer(Command("c0ffee00-0000-4000-8000-000000000002", "ProfileList")).Report!);
        var removed = Plist.Read(mac.Answer(Command("c0ffee00-0000-4000-8000-000000000003", "RemoveProfile", ("Identifier", "com.fleet.wifi"))).Report!);

        Assert.Equal(
            ["com.company.mdm.com.apple.security.firewall", "com.company.profiles.PasswordPolicy", "com.fleet.wifi"],
            ((List<object>)listed["ProfileList"]).Cast<Dictionary<string, object>>().Select(profile => profile["PayloadIdentifier"]));
        Assert.Equal("Acknowledged", removed["Status"]);
        Assert.Equal(["com.company.mdm.com.apple.security.firewall", "com.company.profiles.PasswordPolicy"], mac.Profiles.Select(profile => profile.Identifier));
    }

    [Fact]
    public void NotNowMac_AnswersNotNowInItsFirstSessionsWithCommands_ThenAcknowledges()
    {
        var mac = NewMac(MdmBehaviour.NotNow(2));
        var statuses = new List<string>();

        RunSession(mac);
        for (var session = 0; session < 3; session++)
        {
            statuses.AddRange(RunSession(mac, InstallProfile($"aaaaaaaa-0000-4000-8000-00000000000{session}", "com.fleet.wifi", "Office Wi-Fi"),
                Command($"bbbbbbbb-0000-4000-8000-00000000000{session}", "DeviceInformation")));
        }

        Assert.Equal(["NotNow", "NotNow", "NotNow", "NotNow", "Acknowledged", "Acknowledged"], statuses);
        Assert.Equal(4, mac.Sessions);
        Assert.Contains(mac.Profiles, profile => profile.Identifier == "com.fleet.wifi");
    }

    [Fact]
    public void LoseAckMac_InstallsTheProfileButItsAcknowledgementNeverArrives()
    {
        var mac = NewMac(MdmBehaviour.LoseAck);

        var install = mac.Answer(InstallProfile("c0ffee00-0000-4000-8000-000000000001", "com.fleet.wifi", "Office Wi-Fi"));
        var information = mac.Answer(Command("c0ffee00-0000-4000-8000-000000000002", "DeviceInformation"));

        Assert.Equal(new MdmAnswer(null, "lost"), install);
        Assert.Equal("Acknowledged", information.Status);
        Assert.Contains(mac.OsqueryProfileRows(), row => (string?)row!["identifier"] == "com.fleet.wifi");
    }

    [Fact]
    public void MdmErrorMac_AnswersInstallProfileWithAppleLikeErrorChain()
    {
        var mac = NewMac(MdmBehaviour.MdmError);

        var answer = mac.Answer(InstallProfile("c0ffee00-0000-4000-8000-000000000001", "com.fleet.wifi", "Office Wi-Fi"));

        var report = Plist.Read(answer.Report!);
        Assert.Equal("Error", report["Status"]);
        var error = Assert.IsType<Dictionary<string, object>>(Assert.Single((List<object>)report["ErrorChain"]));
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["ErrorCode"] = 4001L,
                ["ErrorDomain"] = "MCProfileErrorDomain",
                ["LocalizedDescription"] = "The profile “Office Wi-Fi” could not be installed.",
                ["USEnglishDescription"] = "The profile “Office Wi-Fi” could not be installed.",
            },
            error);
        Assert.DoesNotContain(mac.Profiles, profile => profile.Identifier == "com.fleet.wifi");
    }

    [Fact]
    public void AsleepMac_IgnoresPushes()
    {
        var mac = NewMac(MdmBehaviour.Asleep);

        mac.Push(mac.PushMagic);

        Assert.False(mac.Awake);
        Assert.Equal((1, 1), (mac.PushesReceived, mac.PushesIgnored));
    }

    [Fact]
    public async Task NormalMac_WakesOnAPushWithItsMagicOnly()
    {
        var mac = NewMac(MdmBehaviour.Normal);

        mac.Push("not-its-magic");
        mac.Push(mac.PushMagic);
        var woken = await mac.WaitForWakeAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);

        Assert.True(woken, "the Mac did not wake on a push with its push magic");
        Assert.Equal((2, 1), (mac.PushesReceived, mac.PushesIgnored));
    }

    [Theory]
    [InlineData("<plist version=\"1.0\"><dict><key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict></dict></plist>")]
    [InlineData("not xml")]
    public void MalformedCommand_IsAnsweredCommandFormatError(string command)
    {
        var mac = NewMac(MdmBehaviour.Normal);

        var answer = mac.Answer(command);

        Assert.Equal("CommandFormatError", Plist.Read(answer.Report!)["Status"]);
    }

    [Fact]
    public void BaselineProfiles_AreTheRealProfilesOutputsConfigurationProfiles()
    {
        var profiles = MacProfiles.Parse(Payloads.Read("osquery-extension/test_profiles_stdout.plist"));

        Assert.Equal(
            [
                ("com.company.mdm.com.apple.security.firewall", "Firewall", "2023-03-31 01:14:38 +0000"),
                ("com.company.profiles.PasswordPolicy", "Password Policy", "2023-03-31 01:14:36 +0000"),
            ],
            profiles.Select(profile => (profile.Identifier, profile.DisplayName, profile.InstallDateText)));
        Assert.Equal(s_baselineRows, Rows(NewMac(MdmBehaviour.Normal)));
    }

    [Theory]
    [InlineData("notnow:3:2", MdmBehaviourKind.NotNow, 3, 2)]
    [InlineData("lose-ack:1", MdmBehaviourKind.LoseAck, 1, 0)]
    [InlineData("asleep:4", MdmBehaviourKind.Asleep, 4, 0)]
    [InlineData("mdm-error:2", MdmBehaviourKind.MdmError, 2, 0)]
    [InlineData("renewal-notnow:3:2", MdmBehaviourKind.RenewalNotNow, 3, 2)]
    [InlineData("renewal-ignore:5", MdmBehaviourKind.RenewalIgnore, 5, 0)]
    public void Behaviour_ParsesTheCommandLineSpelling(string text, MdmBehaviourKind kind, int hosts, int sessions)
    {
        Assert.True(MdmBehaviour.TryParse(text, out var parsed), text);

        Assert.Equal((new MdmBehaviour(kind, sessions), hosts), parsed);
    }

    [Theory]
    [InlineData("notnow:3")]
    [InlineData("notnow:3:0")]
    [InlineData("lose-ack:0")]
    [InlineData("sleepy:1")]
    [InlineData("renewal-notnow:3")]
    [InlineData("renewal-notnow:3:0")]
    [InlineData("renewal-ignore:1:2")]
    [InlineData("renewal-ignore:0")]
    public void Behaviour_RefusesABadSpelling(string text) => Assert.False(MdmBehaviour.TryParse(text, out _), text);

    // The rows osquery's macos_profiles gives for the real profiles output: display_name, identifier, install_date.
    private static readonly (string, string, string)[] s_baselineRows =
    [
        ("Firewall", "com.company.mdm.com.apple.security.firewall", "2023-03-31 01:14:38 +0000"),
        ("Password Policy", "com.company.profiles.PasswordPolicy", "2023-03-31 01:14:36 +0000"),
    ];

    private static List<(string, string, string)> Rows(MacDevice mac) =>
        [.. mac.OsqueryProfileRows().Select(row => ((string)row!["display_name"]!, (string)row["identifier"]!, (string)row["install_date"]!))];

    private MacDevice NewMac(MdmBehaviour behaviour) => new(Udid, s_facts, behaviour, _clock);

    // One session the way MdmClient runs it: Idle, then one report per command, until the commands run out.
    private static List<string> RunSession(MacDevice mac, params string[] commands)
    {
        mac.BeginSession();
        var statuses = commands.Select(command => mac.Answer(command).Status).ToList();
        mac.EndSession();

        return statuses;
    }

    private static string Command(string uuid, string requestType, params (string Key, object Value)[] fields)
    {
        var command = new Dictionary<string, object> { ["RequestType"] = requestType };
        foreach (var (key, value) in fields)
        {
            command[key] = value;
        }

        return Plist.Write(new() { ["CommandUUID"] = uuid, ["Command"] = command });
    }

    internal static string InstallProfile(string uuid, string identifier, string displayName)
    {
        var mobileconfig = Plist.Write(new()
        {
            ["PayloadContent"] = new List<object>(),
            ["PayloadDisplayName"] = displayName,
            ["PayloadIdentifier"] = identifier,
            ["PayloadType"] = "Configuration",
            ["PayloadUUID"] = "6EE63BCC-3E7C-48B2-AD15-D078EBAF25D1",
            ["PayloadVersion"] = 1L,
        });

        return Command(uuid, "InstallProfile", ("Payload", Encoding.UTF8.GetBytes(mobileconfig)));
    }
}
