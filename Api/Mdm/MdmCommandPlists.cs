using System.Security.Cryptography;
using System.Text;
using Fleet.Api.Mdm.Plist;
using Fleet.Contracts;

namespace Fleet.Api.Mdm;

/// <summary>Renders the commands the service sends into Apple's command dictionaries.</summary>
internal static class MdmCommandPlists
{
    /// <summary>What a <c>DeviceInformation</c> command asks for: the facts a refetch records, and the UDID.</summary>
    public static readonly IReadOnlyList<string> DeviceInformationQueries =
        ["OSVersion", "BuildVersion", "SerialNumber", "DeviceName", "ModelName", "ProductName", "HostName", "UDID"];

    /// <summary><c>{CommandUUID, Command: {RequestType, …}}</c> for one command.</summary>
    public static PlistDict Render(MdmCommand command)
    {
        List<KeyValuePair<string, PlistValue>> body = [Entry("RequestType", command.Kind.ToString())];
        switch (command.Kind)
        {
            case MdmCommandKind.DeviceInformation:
                body.Add(new("Queries", new PlistArray([.. DeviceInformationQueries.Select(q => new PlistString(q))])));
                break;
            case MdmCommandKind.InstallProfile:
                var profile = MobileConfig(
                    Required(command.ProfileIdentifier, command),
                    Required(command.ProfileDisplayName, command),
                    Required(command.ProfileChecksum, command));
                body.Add(new("Payload", new PlistData(PlistWriter.Write(profile))));
                break;
            case MdmCommandKind.RemoveProfile:
                body.Add(Entry("Identifier", Required(command.ProfileIdentifier, command)));
                break;
            case MdmCommandKind.ProfileList:
                break;
            default:
                throw new ArgumentException($"Command {command.CommandUuid} has unknown kind {command.Kind}.", nameof(command));
        }

        return new PlistDict([Entry("CommandUUID", command.CommandUuid), new("Command", new PlistDict(body))]);
    }

    /// <summary>
    /// The configuration profile an <c>InstallProfile</c> carries. The service keeps only the declared
    /// identifier, name and checksum, so the profile names the checksum it stands for, and its UUID is
    /// derived from identifier and checksum: the same version always renders the same bytes.
    /// </summary>
    public static PlistDict MobileConfig(string identifier, string displayName, string checksum) => new(
    [
        Entry("PayloadContent", new PlistArray([])),
        Entry("PayloadDescription", $"Managed by Fleet.Orleans; payload checksum {checksum}."),
        Entry("PayloadDisplayName", displayName),
        Entry("PayloadIdentifier", identifier),
        Entry("PayloadType", "Configuration"),
        Entry("PayloadUUID", PayloadUuid(identifier, checksum)),
        Entry("PayloadVersion", new PlistInteger(1)),
    ]);

    /// <summary>A name-based UUID (RFC 9562 version 8) from SHA-256 of identifier and checksum.</summary>
    public static string PayloadUuid(string identifier, string checksum)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{identifier}\n{checksum}"), hash);
        var bytes = hash[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);

        return new Guid(bytes, bigEndian: true).ToString().ToUpperInvariant();
    }

    private static KeyValuePair<string, PlistValue> Entry(string key, string value) => new(key, new PlistString(value));

    private static KeyValuePair<string, PlistValue> Entry(string key, PlistValue value) => new(key, value);

    private static string Required(string? field, MdmCommand command) => field
        ?? throw new ArgumentException($"Command {command.CommandUuid} ({command.Kind}) lacks a profile field.", nameof(command));
}
