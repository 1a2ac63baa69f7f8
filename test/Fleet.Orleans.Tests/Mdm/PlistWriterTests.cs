using System.Text;
using Fleet.Api.Mdm;
using Fleet.Api.Mdm.Plist;
using Fleet.Contracts;

namespace Fleet.Tests.Mdm;

/// <summary>The plist writer, and every command the service sends written and read back.</summary>
public sealed class PlistWriterTests
{
    private const string CommandUuid = "5B1C1A8E-2F62-4C6B-9C1E-0D5A3F7B9E21";

    private static readonly PlistLimits s_limits = new(64 * 1024);

    [Fact]
    public void Write_StartsWithApplesDeclarationAndDoctype()
    {
        var text = Encoding.UTF8.GetString(PlistWriter.Write(new PlistDict([new("a", new PlistString("b"))])));

        Assert.Equal(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
            "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n" +
            "<plist version=\"1.0\">\n\t<dict>\n\t\t<key>a</key>\n\t\t<string>b</string>\n\t</dict>\n</plist>",
            text);
    }

    [Fact]
    public void Write_EveryKindOfValue_ReadsBackTheSame()
    {
        var value = new PlistDict(
        [
            new("text", new PlistString("<tag> & \"quotes\" ünïcödé")),
            new("empty", new PlistString(string.Empty)),
            new("integer", new PlistInteger(long.MinValue)),
            new("real", new PlistReal(0.1)),
            new("yes", new PlistBool(true)),
            new("no", new PlistBool(false)),
            new("date", new PlistDate(new DateTimeOffset(2024, 2, 29, 23, 59, 59, TimeSpan.Zero))),
            new("data", new PlistData(new byte[] { 0, 1, 254, 255 })),
            new("array", new PlistArray([new PlistArray([]), new PlistDict([])])),
        ]);

        var written = PlistWriter.Write(value);
        var read = Assert.IsType<PlistDict>(PlistReader.Read(written, s_limits));

        Assert.Equal(written, PlistWriter.Write(read));
        Assert.Equal("<tag> & \"quotes\" ünïcödé", read.GetString("text"));
        Assert.Equal(string.Empty, read.GetString("empty"));
        Assert.Equal(long.MinValue, read.GetInteger("integer"));
        Assert.Equal(new PlistReal(0.1), read["real"]);
        Assert.Equal(new PlistBool(true), read["yes"]);
        Assert.Equal(new PlistBool(false), read["no"]);
        Assert.Equal(new DateTimeOffset(2024, 2, 29, 23, 59, 59, TimeSpan.Zero), read.GetDate("date"));
        Assert.Equal("0001feff", read.GetData("data")!.ToHex());
        Assert.Equal(["array", "dict"], read.GetArray("array")!.Items.Select(i => i.Kind));
    }

    [Fact]
    public void DeviceInformation_RoundTrips_WithItsQueries()
    {
        var command = RoundTrip(new MdmCommand(CommandUuid, MdmCommandKind.DeviceInformation));

        Assert.Equal("DeviceInformation", command.GetString("RequestType"));
        Assert.Equal(
            ["OSVersion", "BuildVersion", "SerialNumber", "DeviceName", "ModelName", "ProductName", "HostName", "UDID"],
            command.GetArray("Queries")!.Items.Cast<PlistString>().Select(q => q.Value));
        Assert.Equal(["RequestType", "Queries"], command.Entries.Select(e => e.Key));
    }

    [Fact]
    public void ProfileList_RoundTrips_WithOnlyItsRequestType()
    {
        var command = RoundTrip(new MdmCommand(CommandUuid, MdmCommandKind.ProfileList));

        Assert.Equal("ProfileList", command.GetString("RequestType"));
        Assert.Single(command.Entries);
    }

    [Fact]
    public void RemoveProfile_RoundTrips_WithTheIdentifier()
    {
        var command = RoundTrip(new MdmCommand(CommandUuid, MdmCommandKind.RemoveProfile, "com.example.firewall"));

        Assert.Equal("RemoveProfile", command.GetString("RequestType"));
        Assert.Equal("com.example.firewall", command.GetString("Identifier"));
        Assert.Equal(2, command.Entries.Count);
    }

    [Fact]
    public void InstallProfile_RoundTrips_WithAConfigurationProfilePayload()
    {
        var command = RoundTrip(new MdmCommand(
            CommandUuid, MdmCommandKind.InstallProfile, "com.example.firewall", "Firewall & more", "sha256:abc123"));

        Assert.Equal("InstallProfile", command.GetString("RequestType"));
        var payload = command.GetData("Payload")!.Value.ToArray();
        var profile = Assert.IsType<PlistDict>(PlistReader.Read(payload, s_limits));
        Assert.Equal("Configuration", profile.GetString("PayloadType"));
        Assert.Equal("com.example.firewall", profile.GetString("PayloadIdentifier"));
        Assert.Equal("Firewall & more", profile.GetString("PayloadDisplayName"));
        Assert.Equal(1, profile.GetInteger("PayloadVersion"));
        Assert.Equal("Managed by Fleet.Orleans; payload checksum sha256:abc123.", profile.GetString("PayloadDescription"));
        Assert.Empty(profile.GetArray("PayloadContent")!.Items);
        Assert.Equal(MdmCommandPlists.PayloadUuid("com.example.firewall", "sha256:abc123"), profile.GetString("PayloadUUID"));
    }

    [Fact]
    public void PayloadUuid_IsStablePerVersionAndDiffersBetweenVersions()
    {
        var first = MdmCommandPlists.PayloadUuid("com.example.firewall", "v1");
        var again = MdmCommandPlists.PayloadUuid("com.example.firewall", "v1");
        var next = MdmCommandPlists.PayloadUuid("com.example.firewall", "v2");
        var other = MdmCommandPlists.PayloadUuid("com.example.firewal", "lv1");

        Assert.Equal(first, again);
        Assert.NotEqual(first, next);
        Assert.NotEqual(first, other);
        Assert.Matches("^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$", first);
    }

    [Fact]
    public void InstallProfile_WithoutItsProfileFields_IsAProgrammerError()
    {
        var error = Assert.Throws<ArgumentException>(
            () => MdmCommandPlists.Render(new MdmCommand(CommandUuid, MdmCommandKind.InstallProfile, "com.example.x")));

        Assert.StartsWith($"Command {CommandUuid} (InstallProfile) lacks a profile field.", error.Message, StringComparison.Ordinal);
    }

    // Renders, writes, reads back, checks the bytes survive a second write, and returns the Command dictionary.
    private static PlistDict RoundTrip(MdmCommand command)
    {
        var written = PlistWriter.Write(MdmCommandPlists.Render(command));
        var read = Assert.IsType<PlistDict>(PlistReader.Read(written, s_limits));

        Assert.Equal(written, PlistWriter.Write(read));
        Assert.Equal(["CommandUUID", "Command"], read.Entries.Select(e => e.Key));
        Assert.Equal(CommandUuid, read.GetString("CommandUUID"));

        return read.GetDict("Command")!;
    }
}
