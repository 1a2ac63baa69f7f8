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

    /// <summary>The configuration profile that carries a renewed device identity.</summary>
    public const string IdentityProfileIdentifier = "com.fleet-orleans.mdm.identity";

    /// <summary>The PKCS#12 payload inside the identity profile.</summary>
    public const string IdentityPkcs12Identifier = IdentityProfileIdentifier + ".pkcs12";

    public const string IdentityProfileDisplayName = "Device identity";

    /// <summary><c>{CommandUUID, Command: {RequestType, …}}</c> for one command.</summary>
    public static PlistDict Render(MdmCommand command)
    {
        // A renewal is an InstallProfile to the device: Apple has no command of its own for it.
        var requestType = command.Kind == MdmCommandKind.RenewIdentity ? MdmCommandKind.InstallProfile : command.Kind;
        List<KeyValuePair<string, PlistValue>> body = [Entry("RequestType", requestType.ToString())];
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
            case MdmCommandKind.RenewIdentity:
                var identity = command.Identity
                    ?? throw new ArgumentException($"Command {command.CommandUuid} (RenewIdentity) carries no issued identity.", nameof(command));
                body.Add(new("Payload", new PlistData(PlistWriter.Write(IdentityProfile(identity)))));
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
    public static PlistDict MobileConfig(string identifier, string displayName, string checksum) => Configuration(
        identifier, displayName, $"Managed by Fleet.Orleans; payload checksum {checksum}.", checksum, []);

    /// <summary>
    /// The configuration profile of a renewed identity: one <c>com.apple.security.pkcs12</c> payload with the
    /// PKCS#12 and its password. Its UUIDs derive from the new certificate, so a re-offer renders the same bytes.
    /// </summary>
    public static PlistDict IdentityProfile(IssuedIdentity identity)
    {
        var thumbprint = identity.Certificate.Thumbprint;
        var pkcs12 = new PlistDict(
        [
            Entry("Password", identity.Password),
            Entry("PayloadContent", new PlistData(identity.Pkcs12)),
            Entry("PayloadDisplayName", IdentityProfileDisplayName),
            Entry("PayloadIdentifier", IdentityPkcs12Identifier),
            Entry("PayloadType", "com.apple.security.pkcs12"),
            Entry("PayloadUUID", PayloadUuid(IdentityPkcs12Identifier, thumbprint)),
            Entry("PayloadVersion", new PlistInteger(1)),
        ]);

        return Configuration(
            IdentityProfileIdentifier,
            IdentityProfileDisplayName,
            $"Managed by Fleet.Orleans; the device's MDM identity, serial {identity.Certificate.SerialNumber}.",
            thumbprint,
            [pkcs12]);
    }

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

    /// <summary>A top-level configuration profile; <paramref name="version"/> keys its UUID.</summary>
    private static PlistDict Configuration(string identifier, string displayName, string description, string version, IReadOnlyList<PlistValue> content) => new(
    [
        Entry("PayloadContent", new PlistArray(content)),
        Entry("PayloadDescription", description),
        Entry("PayloadDisplayName", displayName),
        Entry("PayloadIdentifier", identifier),
        Entry("PayloadType", "Configuration"),
        Entry("PayloadUUID", PayloadUuid(identifier, version)),
        Entry("PayloadVersion", new PlistInteger(1)),
    ]);

    private static KeyValuePair<string, PlistValue> Entry(string key, string value) => new(key, new PlistString(value));

    private static KeyValuePair<string, PlistValue> Entry(string key, PlistValue value) => new(key, value);

    private static string Required(string? field, MdmCommand command) => field
        ?? throw new ArgumentException($"Command {command.CommandUuid} ({command.Kind}) lacks a profile field.", nameof(command));
}
