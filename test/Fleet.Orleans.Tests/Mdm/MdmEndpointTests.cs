using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Fleet.Api.Mdm;
using Fleet.Api.Mdm.Plist;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Mdm;

/// <summary>
/// The MDM check-in and command URLs through the real Api: every bad-input rule, and the real captured
/// plists replayed with a fresh UDID per test so that tests sharing the cluster never meet.
/// </summary>
public sealed class MdmEndpointTests(MdmApiFixture fixture) : IClassFixture<MdmApiFixture>
{
    private const string CheckIn = MdmApi.CheckInContentType;
    private const string Command = MdmApi.CommandContentType;

    // The UDIDs in the captured payloads (see test/payloads/README.md), swapped for a fresh one per test.
    private const string IMacUdid = "00000000-0000-0000-0000-0000000000A1";
    private const string ZentralInfoUdid = "00000000-0000-0000-0000-0000000000A2";
    private const string ZentralProfilesUdid = "00000000-0000-0000-0000-0000000000A3";
    private const string IPadUdid = "00000000000000000000000000000000000000a7";

    private static readonly Regex s_udidEntry = new("<key>UDID</key>\\s*<string>([0-9A-Za-z-]{1,200})</string>", RegexOptions.CultureInvariant);

    private const string Header =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n";

    [Theory]
    [InlineData("/mdm/checkin", Command)]
    [InlineData("/mdm/checkin", "application/xml")]
    [InlineData("/mdm/checkin", null)]
    [InlineData("/mdm/connect", CheckIn)]
    [InlineData("/mdm/connect", "text/plain")]
    [InlineData("/mdm/connect", null)]
    [InlineData("/mdm", "application/json")]
    [InlineData("/mdm", null)]
    public async Task Put_WithWrongOrMissingContentType_Is415Problem(string path, string? contentType)
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();

        using var response = await PutAsync(http, path, Plist($"<dict><key>UDID</key><string>{udid}</string></dict>"), contentType);

        var body = await ExpectProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "Unsupported media type", $"PUT {path} as {contentType}");
        Assert.StartsWith($"Content-Type was '{contentType ?? "(none)"}'", Text(body, "detail"), StringComparison.Ordinal);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 506 && l.Level == LogLevel.Warning && l.Message.Contains(path, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/mdm/checkin")]
    [InlineData("/mdm/connect")]
    [InlineData("/mdm")]
    public async Task OtherMethods_Are405WithAllowPut(string path)
    {
        using var http = fixture.DeviceClient();

        using var get = await http.GetAsync(path, TestAborted);
        using var post = await http.PostAsync(path, Content(Plist("<dict/>"), CheckIn), TestAborted);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal(["PUT"], get.Content.Headers.Allow);
    }

    [Theory]
    [InlineData("/mdm/checkin", CheckIn, MdmApi.MaxCheckInBytes)]
    [InlineData("/mdm", CheckIn, MdmApi.MaxCheckInBytes)]
    [InlineData("/mdm/connect", Command, MdmApi.MaxReportBytes)]
    [InlineData("/mdm", Command, MdmApi.MaxReportBytes)]
    public async Task Put_OverTheBodyLimit_Is413Problem(string path, string contentType, int limit)
    {
        using var http = fixture.DeviceClient();

        using var response = await PutAsync(http, path, PaddedPlist(NewUdid(), limit + 1), contentType);

        var body = await ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "Payload too large", $"PUT {path} of {limit + 1} bytes");
        Assert.Equal($"The body is larger than {limit} bytes.", Text(body, "detail"));
    }

    [Fact]
    public async Task CheckIn_AtTheBodyLimit_IsReadNotRefusedForSize()
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();

        // A body exactly at the limit is parsed: its MessageType is unknown, so it gets 200 and a Warning.
        using var response = await PutAsync(http, "/mdm/checkin", PaddedPlist(udid, MdmApi.MaxCheckInBytes), CheckIn);

        await ExpectEmptyOkAsync(response, $"check-in of exactly {MdmApi.MaxCheckInBytes} bytes from {udid}");
        ExpectWarning(udid, "the MessageType is not one this server handles");
    }

    [Fact]
    public async Task CheckIn_WithContentTypeParameters_IsAccepted()
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();

        using var response = await PutAsync(http, "/mdm/checkin", CheckInPlist(udid, "UserAuthenticate"), CheckIn + "; charset=UTF-8");

        Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
    }

    public static TheoryData<string, string> UnreadableBodies => new()
    {
        { "not XML", "this is not a plist" },
        { "non-plist XML", "<?xml version=\"1.0\"?><html><body>hi</body></html>" },
        { "binary plist", "bplist00\u00d1\u0001\u0002" },
        { "truncated", Header + "<plist version=\"1.0\">\n<dict>\n<key>MessageType</key>\n<string>Authen" },
        { "array root", Plist("<array><string>Authenticate</string></array>") },
        { "entity expansion", "<?xml version=\"1.0\"?><!DOCTYPE plist [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><plist><dict><key>UDID</key><string>&b;</string></dict></plist>" },
        { "depth bomb", Header + "<plist>" + string.Concat(Enumerable.Repeat("<array>", 40)) + string.Concat(Enumerable.Repeat("</array>", 40)) + "</plist>" },
    };

    [Theory]
    [MemberData(nameof(UnreadableBodies))]
    public async Task CheckIn_Unreadable_Is400ProblemAndWarning(string kind, string body)
    {
        using var http = fixture.DeviceClient();
        var before = Count(501);

        using var response = await PutAsync(http, "/mdm/checkin", body, CheckIn);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid check-in", $"check-in with {kind}");
        Assert.StartsWith("The check-in was refused: ", Text(problem, "detail"), StringComparison.Ordinal);
        Assert.Equal(before + 1, Count(501));
        Assert.Contains("UDID (unknown)", fixture.Logs.Lines.Last(l => l.EventId == 501).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckIn_InvalidUtf8_Is400Problem()
    {
        using var http = fixture.DeviceClient();
        var body = Encoding.UTF8.GetBytes(CheckInPlist(NewUdid(), "Authenticate"));
        body[Array.IndexOf(body, (byte)'A')] = 0xC3;

        using var response = await http.PutAsync("/mdm/checkin", Content(body, CheckIn), TestAborted);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid check-in", "check-in with invalid UTF-8");
        Assert.Contains("not valid UTF-8", Text(problem, "detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckIn_WithoutUdid_Is400Problem()
    {
        using var http = fixture.DeviceClient();

        using var response = await PutAsync(http, "/mdm/checkin", Plist("<dict><key>MessageType</key><string>Authenticate</string></dict>"), CheckIn);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid check-in", "check-in without UDID");
        Assert.Equal("The check-in was refused: it names no UDID.", Text(problem, "detail"));
    }

    [Fact]
    public async Task CheckIn_WithHostnameForUdid_Is400ProblemAndWarningNamingIt()
    {
        using var http = fixture.DeviceClient();
        var udid = "not-a-udid-" + Guid.NewGuid().ToString("N")[..8];

        using var response = await PutAsync(http, "/mdm/checkin", CheckInPlist(udid, "Authenticate"), CheckIn);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid check-in", $"check-in from {udid}");
        Assert.Equal("The check-in was refused: its UDID is not a hardware id.", Text(problem, "detail"));
        ExpectWarning(udid, "its UDID is not a hardware id");
    }

    [Fact]
    public async Task CheckIn_TokenUpdateWithoutToken_Is400ProblemWithoutEchoingSecrets()
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();
        var body = Plist($"<dict><key>MessageType</key><string>TokenUpdate</string><key>PushMagic</key><string>MAGIC-SECRET</string>" +
            $"<key>Topic</key><string>com.apple.mgmt.test</string><key>UDID</key><string>{udid}</string></dict>");

        using var response = await PutAsync(http, "/mdm/checkin", body, CheckIn);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid check-in", $"TokenUpdate without Token from {udid}");
        Assert.Equal("The check-in was refused: A TokenUpdate needs Token (data), PushMagic and Topic (strings).", Text(problem, "detail"));
        ExpectWarning(udid, "A TokenUpdate needs Token");
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Message.Contains("MAGIC-SECRET", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("GetBootstrapToken")]
    [InlineData("DeclarativeManagement")]
    [InlineData("authenticate")]
    public async Task CheckIn_UnknownMessageType_Is200AndWarning(string messageType)
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();

        using var response = await PutAsync(http, "/mdm/checkin", CheckInPlist(udid, messageType), CheckIn);

        await ExpectEmptyOkAsync(response, $"check-in {messageType} from {udid}");
        var line = ExpectWarning(udid, "the MessageType is not one this server handles");
        Assert.Contains($"check-in {messageType} from", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckIn_UserChannelTokenUpdate_Is200AndWarning()
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();
        var body = Plist($"<dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>" +
            "<key>UserID</key><string>5DF1182E-C70B-4A3A-BADC-DD3E775040FB</string></dict>");

        using var response = await PutAsync(http, "/mdm/checkin", body, CheckIn);

        await ExpectEmptyOkAsync(response, $"user-channel TokenUpdate from {udid}");
        ExpectWarning(udid, "user-channel check-ins are not handled");
    }

    [Theory]
    [InlineData("/mdm/checkin")]
    [InlineData("/mdm")]
    public async Task CheckIn_UserAuthenticate_Is410(string path)
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();

        using var response = await PutAsync(http, path, CheckInPlist(udid, "UserAuthenticate"), CheckIn);

        await ExpectProblemAsync(response, HttpStatusCode.Gone, "Gone", $"UserAuthenticate from {udid} at {path}");
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 503 && l.Level == LogLevel.Debug && l.Message.Contains(udid, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(UnreadableBodies))]
    public async Task Report_Unreadable_Is200EmptyAndWarning(string kind, string body)
    {
        using var http = fixture.DeviceClient();
        var before = Count(505);

        using var response = await PutAsync(http, "/mdm/connect", body, Command);

        await ExpectEmptyOkAsync(response, $"report with {kind}");
        Assert.Equal(before + 1, Count(505));
        var line = fixture.Logs.Lines.Last(l => l.EventId == 505);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.StartsWith("MDM report from UDID (unknown) not used: ", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Report_WithoutUdid_Is200EmptyAndWarning()
    {
        using var http = fixture.DeviceClient();
        var before = Count(505);

        using var response = await PutAsync(http, "/mdm/connect", Plist("<dict><key>Status</key><string>Idle</string></dict>"), Command);

        await ExpectEmptyOkAsync(response, "report without UDID");
        Assert.Equal(before + 1, Count(505));
        Assert.Equal("MDM report from UDID (unknown) not used: it names no UDID", fixture.Logs.Lines.Last(l => l.EventId == 505).Message);
    }

    [Theory]
    [InlineData("Done", "Status 'Done' is not Idle, Acknowledged, Error, CommandFormatError or NotNow")]
    [InlineData("acknowledged", "Status 'acknowledged' is not Idle, Acknowledged, Error, CommandFormatError or NotNow")]
    [InlineData(null, "the report has no Status")]
    public async Task Report_UnknownStatus_Is200EmptyAndWarningNamingTheUdid(string? status, string why)
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();

        using var response = await PutAsync(http, "/mdm/connect", ReportPlist(udid, status, Guid.NewGuid().ToString()), Command);

        await ExpectEmptyOkAsync(response, $"report {status} from {udid}");
        Assert.Equal($"MDM report from UDID {udid} not used: {why}", ExpectWarning(udid, why).Message);
    }

    [Theory]
    [InlineData("/mdm/connect")]
    [InlineData("/mdm")]
    public async Task Report_AcknowledgedWithoutCommandUuid_Is200EmptyAndWarning(string path)
    {
        using var http = fixture.DeviceClient();
        var udid = NewUdid();

        using var response = await PutAsync(http, path, ReportPlist(udid, "Acknowledged", commandUuid: null), Command);

        await ExpectEmptyOkAsync(response, $"Acknowledged without CommandUUID from {udid}");
        ExpectWarning(udid, "a Acknowledged report names no CommandUUID");
    }

    [Fact]
    public async Task Report_WithInvalidUdid_Is200EmptyAndWarningNamingIt()
    {
        using var http = fixture.DeviceClient();
        var udid = "bogus-udid-" + Guid.NewGuid().ToString("N")[..8];

        using var response = await PutAsync(http, "/mdm/connect", ReportPlist(udid, "Idle", null), Command);

        await ExpectEmptyOkAsync(response, $"report from invalid UDID {udid}");
        ExpectWarning(udid, "its UDID is not a hardware id");
    }

    // Case 10 of issue 3: the real plists through the endpoints. These reach the host grain.

    [Fact]
    public async Task Authenticate2_EnrollsTheIMacWithItsFacts()
    {
        using var device = fixture.DeviceClient();
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        var udid = NewUdid();

        using var response = await PutAsync(device, "/mdm/checkin", Payload("nanomdm/Authenticate.2.plist", IMacUdid, udid), CheckIn);

        await ExpectEmptyOkAsync(response, $"Authenticate.2 as {udid}");
        var host = await http.GetHostAsync(udid);
        ExpectTexts(host["details"], new Dictionary<string, string?>
        {
            ["platform"] = "darwin",
            ["serial"] = "TESTSERIAL02",
            ["hardware_model"] = "iMac14,2",
            ["os_version"] = "10.12.6",
            ["os_build"] = "16G2136",
            ["computer_name"] = "Fruit",
        }, $"host {udid} after Authenticate.2");
        Assert.True(host["mdm"]?["enrolled"]?.GetValue<bool>() == true, $"host {udid}: mdm {Show(host["mdm"])}");
    }

    [Fact]
    public async Task Authenticate1_EnrollsTheIPadByItsLegacyUdid()
    {
        using var device = fixture.DeviceClient();
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        var udid = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + "01234567";

        using var response = await PutAsync(device, "/mdm/checkin", Payload("nanomdm/Authenticate.1.plist", IPadUdid, udid), CheckIn);

        await ExpectEmptyOkAsync(response, $"Authenticate.1 as {udid}");
        var host = await http.GetHostAsync(udid.ToUpperInvariant());
        ExpectTexts(host["details"], new Dictionary<string, string?>
        {
            ["serial"] = "TESTSERIAL01",
            ["os_version"] = "9.3.5",
            ["os_build"] = "13G36",
        }, $"host {udid} after Authenticate.1");
    }

    [Fact]
    public async Task TokenUpdate2_AfterAuthenticate_ShowsThePushTopic()
    {
        using var device = fixture.DeviceClient();
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        var udid = NewUdid();
        await EnrollAsync(device, udid);

        using var response = await PutAsync(device, "/mdm/checkin", Payload("nanomdm/TokenUpdate.2.plist", IMacUdid, udid), CheckIn);

        await ExpectEmptyOkAsync(response, $"TokenUpdate.2 as {udid}");
        var mdm = (await http.GetHostAsync(udid))["mdm"];
        Assert.Equal("com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9", Text(mdm, "topic"));
        Assert.DoesNotContain("888CEB39", Show(mdm), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeviceInformationAnswers_ForAQueuedCommand_UpdateTheHost()
    {
        using var device = fixture.DeviceClient();
        using var http = fixture.OperatorClient();
        var udid = NewUdid();
        await EnrollAsync(device, udid);
        (await http.RefetchAsync(udid)).Dispose();

        var commands = await DrainCommandsAsync(device, udid);
        var info = commands.Single(c => c.Kind == "DeviceInformation");
        using var nanomdm = await PutAsync(device, "/mdm/connect",
            WithCommand(Payload("nanomdm/DeviceInformation.1.plist", IMacUdid, udid), "76eda240-5488-4989-8339-f2ae160113c4", info.Uuid), Command);
        await ExpectEmptyOrCommandAsync(nanomdm, $"DeviceInformation.1 from {udid}");

        Assert.Equal("fruit.example.com", Text((await http.GetHostAsync(udid))["details"], "hostname"));

        (await http.RefetchAsync(udid)).Dispose();
        var again = (await DrainCommandsAsync(device, udid)).Single(c => c.Kind == "DeviceInformation");
        using var zentral = await PutAsync(device, "/mdm/connect",
            WithCommand(Payload("zentral/device_information.plist", ZentralInfoUdid, udid), "02CD8B7A-465F-49E6-86D6-D3ACAAE5529E", again.Uuid), Command);
        await ExpectEmptyOrCommandAsync(zentral, $"zentral DeviceInformation from {udid}");

        ExpectTexts((await http.GetHostAsync(udid))["details"], new Dictionary<string, string?>
        {
            ["os_version"] = "13.0",
            ["os_build"] = "22A5321d",
            ["serial"] = "TESTSER005",
            ["hostname"] = "Yolo.local",
            ["computer_name"] = "Yolo",
        }, $"host {udid} after the zentral DeviceInformation answer");
    }

    [Fact]
    public async Task ProfileListAnswer_ShowingADeclaredProfile_VerifiesIt()
    {
        using var device = fixture.DeviceClient();
        using var http = fixture.OperatorClient();
        var udid = NewUdid();
        var team = "mdm-" + Guid.NewGuid().ToString("N")[..12];
        await EnrollAsync(device, udid);
        using var declared = await http.PutAsync(
            $"/api/v1/configuration_profiles/com.example.zentral.santa_configuration?team_id={team}",
            Json("{\"display_name\":\"Zentral - Santa configuration\",\"checksum\":\"santa-v1\"}"), TestAborted);
        await ExpectStatusAsync(declared, HttpStatusCode.OK, $"declare the Santa profile in {team}");
        using var moved = await http.PutAsync($"/api/v1/hosts/{udid}/team", Json($"{{\"team_id\":\"{team}\"}}"), TestAborted);
        await ExpectStatusAsync(moved, HttpStatusCode.OK, $"move {udid} to {team}");
        (await http.RefetchAsync(udid)).Dispose();

        var list = (await DrainCommandsAsync(device, udid)).Single(c => c.Kind == "ProfileList");
        using var answer = await PutAsync(device, "/mdm/connect",
            WithCommand(Payload("zentral/profile_list.plist", ZentralProfilesUdid, udid), "ABCC7D59-00FC-45DE-995A-296B119583E8", list.Uuid), Command);
        await ExpectEmptyOrCommandAsync(answer, $"ProfileList from {udid}");

        var host = await http.GetHostAsync(udid);
        var profile = host["profiles"]!.AsArray().Single(p => Text(p, "identifier") == "com.example.zentral.santa_configuration");
        Assert.Equal("verified", Text(profile, "status"));
        Assert.Equal(team, Text(host, "team_id"));
    }

    private async Task EnrollAsync(HttpClient device, string udid)
    {
        using var response = await PutAsync(device, "/mdm/checkin", Payload("nanomdm/Authenticate.2.plist", IMacUdid, udid), CheckIn);
        await ExpectEmptyOkAsync(response, $"Authenticate of {udid}");
    }

    /// <summary>Reports Idle, then acknowledges nothing: collects every command offered until an empty answer.</summary>
    private static async Task<List<(string Uuid, string Kind)>> DrainCommandsAsync(HttpClient device, string udid)
    {
        var commands = new List<(string Uuid, string Kind)>();
        using var response = await PutAsync(device, "/mdm/connect", ReportPlist(udid, "Idle", null), Command);
        var next = await ExpectEmptyOrCommandAsync(response, $"Idle from {udid}");
        while (next is { } command && commands.Count < 10)
        {
            commands.Add(command);
            using var notNow = await PutAsync(device, "/mdm/connect", ReportPlist(udid, "NotNow", command.Uuid), Command);
            next = await ExpectEmptyOrCommandAsync(notNow, $"NotNow for {command.Uuid} from {udid}");
        }

        return commands;
    }

    private static async Task<(string Uuid, string Kind)?> ExpectEmptyOrCommandAsync(HttpResponseMessage response, string context)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync(TestAborted);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{context}: expected 200, got {(int)response.StatusCode} '{Encoding.UTF8.GetString(bytes)}'");
        if (bytes.Length == 0)
        {
            return null;
        }

        Assert.Equal(MdmApi.CommandResponseContentType, response.Content.Headers.ContentType?.MediaType);
        var command = Assert.IsType<PlistDict>(PlistReader.Read(bytes, new PlistLimits(MdmApi.MaxReportBytes)));

        return (command.GetString("CommandUUID")!, command.GetDict("Command")!.GetString("RequestType")!);
    }

    private static async Task ExpectEmptyOkAsync(HttpResponseMessage response, string context)
    {
        var text = await response.Content.ReadAsStringAsync(TestAborted);

        Assert.True(
            response.StatusCode == HttpStatusCode.OK && text.Length == 0,
            $"{context}: expected 200 with an empty body, got {(int)response.StatusCode} '{text}'");
    }

    private LogLine ExpectWarning(string udid, string reason)
    {
        var lines = fixture.Logs.Mentioning(udid, LogLevel.Warning);
        var match = lines.FirstOrDefault(l => l.Message.Contains(reason, StringComparison.Ordinal));

        Assert.True(match is not null, $"UDID {udid}: no Warning saying '{reason}'; saw [{string.Join(" | ", lines.Select(l => l.Message))}]");

        return match;
    }

    private int Count(int eventId) => fixture.Logs.Lines.Count(l => l.EventId == eventId);

    private static Task<HttpResponseMessage> PutAsync(HttpClient http, string path, string body, string? contentType) =>
        http.PutAsync(path, Content(Encoding.UTF8.GetBytes(body), contentType), TestAborted);

    private static ByteArrayContent Content(string body, string? contentType) => Content(Encoding.UTF8.GetBytes(body), contentType);

    /// <summary>The body signed as the device it names would sign it; a body naming no usable UDID is signed by a device of its own.</summary>
    private static ByteArrayContent Content(byte[] body, string? contentType)
    {
        var named = s_udidEntry.Match(Encoding.UTF8.GetString(body));

        return MdmSigning.Content(body, contentType, MdmSigning.IdentityFor(named.Success ? named.Groups[1].Value : NewUdid()));
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static string NewUdid() => Guid.NewGuid().ToString().ToUpperInvariant();

    private static string Payload(string relativePath, string payloadUdid, string udid) =>
        Payloads.Read(relativePath).Replace(payloadUdid, udid, StringComparison.Ordinal);

    private static string WithCommand(string payload, string payloadCommandUuid, string commandUuid) =>
        payload.Replace(payloadCommandUuid, commandUuid, StringComparison.Ordinal);

    private static string Plist(string inner) => Header + $"<plist version=\"1.0\">\n{inner}\n</plist>\n";

    private static string CheckInPlist(string udid, string messageType) =>
        Plist($"<dict><key>MessageType</key><string>{messageType}</string><key>UDID</key><string>{udid}</string></dict>");

    private static string ReportPlist(string udid, string? status, string? commandUuid) => Plist(
        "<dict>" +
        (commandUuid is null ? string.Empty : $"<key>CommandUUID</key><string>{commandUuid}</string>") +
        (status is null ? string.Empty : $"<key>Status</key><string>{status}</string>") +
        $"<key>UDID</key><string>{udid}</string></dict>");

    // A well-formed check-in of exactly `size` bytes: an unknown MessageType padded by a long string.
    private static string PaddedPlist(string udid, int size)
    {
        var shell = Plist($"<dict><key>MessageType</key><string>Padding</string><key>UDID</key><string>{udid}</string><key>Pad</key><string></string></dict>");

        return shell.Replace("<string></string>", $"<string>{new string('x', size - Encoding.UTF8.GetByteCount(shell))}</string>", StringComparison.Ordinal);
    }
}
