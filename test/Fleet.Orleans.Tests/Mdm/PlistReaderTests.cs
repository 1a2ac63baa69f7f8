using System.Text;
using Fleet.Api.Mdm.Plist;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Mdm;

/// <summary>The hardened plist reader on the real captured MDM payloads and on hostile bodies.</summary>
public sealed class PlistReaderTests
{
    private const string Header =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n";

    private static readonly PlistLimits s_limits = new(64 * 1024);

    [Fact]
    public void Read_TokenUpdate2_GivesTopicPushMagicAndTokenBytes()
    {
        var message = ReadPayload("nanomdm/TokenUpdate.2.plist");

        Assert.Equal("TokenUpdate", message.GetString("MessageType"));
        Assert.Equal("com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9", message.GetString("Topic"));
        Assert.Equal("888CEB39-BFFA-40F6-89FA-B60752EB63C2", message.GetString("PushMagic"));
        Assert.Equal("1ba7c90066c50f77689a24f3a425caf68a300f729e88e460a9416022d5d642cc", message.GetData("Token")!.ToHex());
        Assert.Equal(new PlistBool(false), message["AwaitingConfiguration"]);
        Assert.Equal("00000000-0000-0000-0000-0000000000A1", message.GetString("UDID"));
        Assert.Equal(
            ["AwaitingConfiguration", "MessageType", "PushMagic", "Token", "Topic", "UDID"],
            message.Entries.Select(e => e.Key));
    }

    [Fact]
    public void Read_TokenUpdate1_GivesTokenAndTheWrappedUnlockToken()
    {
        var message = ReadPayload("nanomdm/TokenUpdate.1.plist");

        Assert.Equal("47e8eec062c2f729ec1703c1b3e18f1971d85f00be76445d34080baa701b5f51", message.GetData("Token")!.ToHex());
        Assert.Equal("CEFDF0BD-E342-4A27-8742-E930EA116B0A", message.GetString("PushMagic"));
        Assert.Equal(1288, message.GetData("UnlockToken")!.Value.Length);
        Assert.Equal("00000000000000000000000000000000000000a7", message.GetString("UDID"));
    }

    [Fact]
    public void Read_Authenticate1_GivesTheIPadFacts()
    {
        var message = ReadPayload("nanomdm/Authenticate.1.plist");

        Assert.Equal("Authenticate", message.GetString("MessageType"));
        Assert.Equal("13G36", message.GetString("BuildVersion"));
        Assert.Equal("9.3.5", message.GetString("OSVersion"));
        Assert.Equal("iPad2,5", message.GetString("ProductName"));
        Assert.Equal("TESTSERIAL01", message.GetString("SerialNumber"));
        Assert.Equal("00000000000000000000000000000000000000a7", message.GetString("UDID"));
    }

    [Fact]
    public void Read_Authenticate2_GivesTheIMacFactsAndChallenge()
    {
        var message = ReadPayload("nanomdm/Authenticate.2.plist");

        Assert.Equal("apple", Encoding.ASCII.GetString(message.GetData("Challenge")!.Value.Span));
        Assert.Equal("Fruit", message.GetString("DeviceName"));
        Assert.Equal("iMac14,2", message.GetString("Model"));
        Assert.Equal("iMac", message.GetString("ModelName"));
        Assert.Equal("10.12.6", message.GetString("OSVersion"));
        Assert.Equal("16G2136", message.GetString("BuildVersion"));
        Assert.Equal("TESTSERIAL02", message.GetString("SerialNumber"));
    }

    [Fact]
    public void Read_NanomdmDeviceInformation_GivesCommandStatusAndQueryResponses()
    {
        var message = ReadPayload("nanomdm/DeviceInformation.1.plist");

        Assert.Equal("76eda240-5488-4989-8339-f2ae160113c4", message.GetString("CommandUUID"));
        Assert.Equal("Acknowledged", message.GetString("Status"));
        Assert.Equal("DeviceInformation", message.GetString("RequestType"));
        var answers = message.GetDict("QueryResponses")!;
        Assert.Equal("fruit.example.com", answers.GetString("HostName"));
        Assert.Equal("00000000-0000-0000-0000-0000000000A1", answers.GetString("UDID"));
        Assert.Equal(2, answers.Entries.Count);
    }

    [Fact]
    public void Read_ZentralDeviceInformation_GivesEveryKindOfValue()
    {
        var message = ReadPayload("zentral/device_information.plist");

        Assert.Equal("02CD8B7A-465F-49E6-86D6-D3ACAAE5529E", message.GetString("CommandUUID"));
        var answers = message.GetDict("QueryResponses")!;
        Assert.Equal(34, answers.Entries.Count);
        Assert.Equal("13.0", answers.GetString("OSVersion"));
        Assert.Equal("22A5321d", answers.GetString("BuildVersion"));
        Assert.Equal("TESTSER005", answers.GetString("SerialNumber"));
        Assert.Equal("Yolo", answers.GetString("DeviceName"));
        Assert.Equal("Virtual Machine", answers.GetString("ModelName"));
        Assert.Equal("VirtualMac2,1", answers.GetString("ProductName"));
        Assert.Equal("Yolo.local", answers.GetString("HostName"));
        Assert.Equal(new PlistReal(10), answers["AvailableDeviceCapacity"]);
        Assert.Equal(new PlistBool(true), answers["IsAppleSilicon"]);
        Assert.Empty(answers.GetArray("AutoSetupAdminAccounts")!.Items);
        Assert.Empty(answers.GetDict("MDMOptions")!.Entries);
        var updates = answers.GetDict("OSUpdateSettings")!;
        Assert.Equal(new DateTimeOffset(2022, 9, 9, 8, 38, 4, TimeSpan.Zero), updates.GetDate("PreviousScanDate"));
        Assert.Equal(2, updates.GetInteger("PreviousScanResult"));
    }

    [Fact]
    public void Read_ZentralProfileList_GivesIdentifiersDisplayNamesAndCertificates()
    {
        var message = ReadPayload("zentral/profile_list.plist");

        var profiles = message.GetArray("ProfileList")!.Items.Cast<PlistDict>().ToList();
        Assert.Equal(
            ["com.example.zentral.santa_configuration", "com.example.zentral.mdm"],
            profiles.Select(p => p.GetString("PayloadIdentifier")));
        Assert.Equal(
            ["Zentral - Santa configuration", "Zentral - MDM enrollment"],
            profiles.Select(p => p.GetString("PayloadDisplayName")));
        Assert.Equal([2, 2], profiles.Select(p => p.GetArray("SignerCertificates")!.Items.Count));
        Assert.Equal([1, 3], profiles.Select(p => p.GetArray("PayloadContent")!.Items.Count));
        Assert.Equal("00000000-0000-0000-0000-0000000000A3", message.GetString("UDID"));
    }

    [Fact]
    public void Read_OsqueryExtensionProfiles_GivesBothComputerLevelProfiles()
    {
        var message = ReadPayload("osquery-extension/test_profiles_stdout.plist");

        var profiles = message.GetArray("_computerlevel")!.Items.Cast<PlistDict>().ToList();
        Assert.Equal(
            ["com.company.mdm.com.apple.security.firewall", "com.company.profiles.PasswordPolicy"],
            profiles.Select(p => p.GetString("ProfileIdentifier")));
        Assert.Equal(["Firewall", "Password Policy"], profiles.Select(p => p.GetString("ProfileDisplayName")));
        Assert.Equal("2023-03-31 01:14:38 +0000", profiles[0].GetString("ProfileInstallDate"));
        var content = profiles[1].GetArray("ProfileItems")!.Items.Cast<PlistDict>().Single().GetDict("PayloadContent")!;
        Assert.Equal(100, content.GetInteger("minLength"));
    }

    [Fact]
    public void Read_PredefinedEntitiesAndCData_AreText()
    {
        var message = ReadDict("<dict><key>a</key><string>&lt;b&gt; &amp; &#x41;</string><key>c</key><string><![CDATA[<d>]]></string></dict>");

        Assert.Equal("<b> & A", message.GetString("a"));
        Assert.Equal("<d>", message.GetString("c"));
    }

    [Fact]
    public void Read_BillionLaughs_IsRefusedWithoutExpanding()
    {
        var lols = string.Concat(Enumerable.Range(1, 9).Select(i =>
            $"<!ENTITY lol{i} \"{string.Concat(Enumerable.Repeat($"&lol{i - 1};", 10))}\">"));
        var body = "<?xml version=\"1.0\"?>\n<!DOCTYPE plist [<!ENTITY lol0 \"lol\">" + lols + "]>\n" +
            "<plist version=\"1.0\"><string>&lol9;</string></plist>";

        var error = Refused(body);

        Assert.Equal(PlistError.Dtd, error.Error);
        Assert.Contains("DTDs are refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_ExternalEntity_IsRefusedAndTheFileIsNeverRead()
    {
        var secret = Path.Combine(Path.GetTempPath(), $"plist-secret-{Guid.NewGuid():N}.txt");
        File.WriteAllText(secret, "SECRET-MARKER");
        try
        {
            var uri = new Uri(secret).AbsoluteUri;
            var body = $"<?xml version=\"1.0\"?>\n<!DOCTYPE plist [<!ENTITY xxe SYSTEM \"{uri}\">]>\n" +
                "<plist version=\"1.0\"><string>&xxe;</string></plist>";

            var error = Refused(body);

            Assert.Equal(PlistError.Dtd, error.Error);
            Assert.DoesNotContain("SECRET-MARKER", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(secret);
        }
    }

    [Fact]
    public void Read_ExternalDtdWithParameterEntity_IsNeverLoaded()
    {
        var dtd = Path.Combine(Path.GetTempPath(), $"plist-dtd-{Guid.NewGuid():N}.dtd");
        File.WriteAllText(dtd, "<!ENTITY injected \"INJECTED\">");
        try
        {
            var uri = new Uri(dtd).AbsoluteUri;
            var body = $"<?xml version=\"1.0\"?>\n<!DOCTYPE plist SYSTEM \"{uri}\" [<!ENTITY % p SYSTEM \"{uri}\"> %p;]>\n" +
                "<plist version=\"1.0\"><string>&injected;</string></plist>";

            var error = Refused(body);

            Assert.Equal(PlistError.Dtd, error.Error);
            Assert.DoesNotContain("INJECTED", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(dtd);
        }
    }

    [Fact]
    public void Read_NestingAtTheDepthLimit_IsAcceptedAndOneDeeperRefused()
    {
        static string Nested(int depth) =>
            string.Concat(Enumerable.Repeat("<array>", depth)) + string.Concat(Enumerable.Repeat("</array>", depth));

        var atLimit = PlistReader.Read(Bytes(Header + $"<plist>{Nested(PlistLimits.DefaultMaxDepth)}</plist>"), s_limits);
        var error = Refused(Header + $"<plist>{Nested(PlistLimits.DefaultMaxDepth + 1)}</plist>");

        Assert.IsType<PlistArray>(atLimit);
        Assert.Equal(PlistError.TooDeep, error.Error);
        Assert.Contains("deeper than 32", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BodyOverTheLimit_IsRefusedBeforeParsingAndAtTheLimitAccepted()
    {
        var prefix = Header + "<plist><string>";
        var suffix = "</string></plist>";
        var limits = new PlistLimits(1024);
        var fits = prefix + new string('a', 1024 - prefix.Length - suffix.Length) + suffix;

        var accepted = PlistReader.Read(Bytes(fits), limits);
        var tooLarge = Assert.Throws<PlistFormatException>(() => PlistReader.Read(Bytes(fits + " "), limits));
        var garbage = Assert.Throws<PlistFormatException>(() => PlistReader.Read(new byte[1025], limits));

        Assert.Equal(1024 - prefix.Length - suffix.Length, Assert.IsType<PlistString>(accepted).Value.Length);
        Assert.Equal(PlistError.TooLarge, tooLarge.Error);
        Assert.Equal("The property list is 1025 bytes; at most 1024 are accepted.", tooLarge.Message);
        Assert.Equal(PlistError.TooLarge, garbage.Error);
    }

    [Fact]
    public void Read_TruncatedBody_IsRefusedAsXml()
    {
        var full = Payloads.Read("nanomdm/TokenUpdate.2.plist");

        var error = Refused(full[..(full.Length / 2)]);

        Assert.Equal(PlistError.Xml, error.Error);
        Assert.StartsWith("The body is not well-formed XML", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("<html><body/></html>", "the root element is <html>, not <plist>")]
    [InlineData("<plist version=\"1.0\"/>", "<plist> holds no value")]
    [InlineData("<plist><string>a</string><string>b</string></plist>", "<plist> holds more than one value")]
    [InlineData("<plist><object/></plist>", "<object> is not a property-list value")]
    [InlineData("<plist><dict><string>a</string></dict></plist>", "a <dict> entry does not start with <key>")]
    [InlineData("<plist><dict><key>a</key></dict></plist>", "the key 'a' has no value")]
    [InlineData("<plist><dict><key>a</key><true/><key>a</key><false/></dict></plist>", "the key 'a' appears twice in one <dict>")]
    public void Read_XmlThatIsNotAPlist_IsRefusedSayingWhy(string xml, string why)
    {
        var error = Refused(Header + xml);

        Assert.Equal(PlistError.NotPlist, error.Error);
        Assert.Matches(@"^Line \d+, position \d+: ", error.Message);
        Assert.EndsWith(why + ".", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("<integer>12x</integer>", "<integer> '12x' is not a 64-bit integer")]
    [InlineData("<integer>99999999999999999999</integer>", "<integer> '99999999999999999999' is not a 64-bit integer")]
    [InlineData("<real>one</real>", "<real> 'one' is not a number")]
    [InlineData("<date>2024-13-01T00:00:00Z</date>", "<date> '2024-13-01T00:00:00Z' is not an ISO 8601 UTC time")]
    [InlineData("<data>!!!!</data>", "<data> is not base64")]
    public void Read_MalformedValue_IsRefusedSayingWhere(string value, string why)
    {
        var error = Refused(Header + $"<plist>\n{value}</plist>");

        Assert.Equal(PlistError.Value, error.Error);
        Assert.Equal($"Line 4, position 2: {why}.", error.Message);
    }

    [Fact]
    public void Read_InvalidUtf8_IsRefusedNamingTheByte()
    {
        var body = Bytes(Header + "<plist><string>ab</string></plist>");
        var at = Array.IndexOf(body, (byte)'b');
        body[at] = 0xFF;

        var error = Assert.Throws<PlistFormatException>(() => PlistReader.Read(body, s_limits));

        Assert.Equal(PlistError.Encoding, error.Error);
        Assert.Equal($"The body is not valid UTF-8 (at byte {at}).", error.Message);
    }

    [Fact]
    public void Read_BinaryPlist_IsRefused()
    {
        byte[] body = [.. "bplist00"u8, 0xD1, 0x01, 0x02, 0x51, 0x61, 0x51, 0x62, 0x08, 0x0B, 0x0D];

        var error = Assert.Throws<PlistFormatException>(() => PlistReader.Read(body, s_limits));

        Assert.Equal(PlistError.Binary, error.Error);
        Assert.Equal("Binary property lists are not accepted; send the XML form.", error.Message);
    }

    [Fact]
    public void Read_CommentsAndProcessingInstructions_AreIgnored()
    {
        var message = ReadDict("<!-- a comment --><dict><?pi data?><key>a</key><!-- b --><integer>-7</integer></dict>");

        Assert.Equal(-7, message.GetInteger("a"));
        Assert.Single(message.Entries);
    }

    private static PlistDict ReadPayload(string relativePath) =>
        Assert.IsType<PlistDict>(PlistReader.Read(File.ReadAllBytes(Path.Combine(Payloads.Root, relativePath)), s_limits));

    private static PlistDict ReadDict(string inner) =>
        Assert.IsType<PlistDict>(PlistReader.Read(Bytes(Header + $"<plist version=\"1.0\">{inner}</plist>"), s_limits));

    private static PlistFormatException Refused(string body) =>
        Assert.Throws<PlistFormatException>(() => PlistReader.Read(Bytes(body), s_limits));

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}
