namespace Fleet.Contracts;

/// <summary>The Apple MDM check-in messages the service understands (<c>MessageType</c>).</summary>
[GenerateSerializer, Alias("fleet.mdm-checkin-type")]
public enum MdmCheckInType
{
    /// <summary>The device (re-)enrolls: its earlier outstanding commands are dropped.</summary>
    Authenticate = 0,

    /// <summary>The device's push token, push magic and topic, sent after Authenticate and whenever they change.</summary>
    TokenUpdate = 1,

    /// <summary>The MDM profile was removed from the device.</summary>
    CheckOut = 2,
}

/// <summary>What a device says about itself in a check-in or a <c>DeviceInformation</c> answer. Unknown values are null.</summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-device-facts")]
public sealed record MdmDeviceFacts
{
    [Id(0)] public string? SerialNumber { get; init; }
    [Id(1)] public string? Model { get; init; }
    [Id(2)] public string? ModelName { get; init; }

    /// <summary>Apple's product name, for example <c>MacBookPro18,3</c>, <c>iPad2,5</c>.</summary>
    [Id(3)] public string? ProductName { get; init; }
    [Id(4)] public string? OsVersion { get; init; }
    [Id(5)] public string? BuildVersion { get; init; }
    [Id(6)] public string? DeviceName { get; init; }
    [Id(7)] public string? HostName { get; init; }
}

/// <summary>Where pushes for a device go: its APNs token (lower-case hex), push magic and topic.</summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-push-target")]
public sealed record MdmPushTarget(
    [property: Id(0)] string Token,
    [property: Id(1)] string PushMagic,
    [property: Id(2)] string Topic);

/// <summary>
/// One MDM check-in, decoded by the Api. <see cref="Udid"/> is the canonical host id (see <see cref="HostIds"/>):
/// a Mac's MDM UDID is its hardware UUID, so MDM and osquery meet in the same host grain.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-checkin")]
public sealed record MdmCheckIn(
    [property: Id(0)] MdmCheckInType Type,
    [property: Id(1)] string Udid,
    [property: Id(2)] MdmDeviceFacts? Facts,
    [property: Id(3)] MdmPushTarget? Push)
{
    /// <summary>The identity certificate the request came with, checked by the Api (signature, chain, validity); null for none.</summary>
    [Id(4)] public DeviceCertificate? Certificate { get; init; }
}

/// <summary>The <c>Status</c> of a command-channel report.</summary>
[GenerateSerializer, Alias("fleet.mdm-result-status")]
public enum MdmResultStatus
{
    /// <summary>The device is ready for a command; no command result is carried.</summary>
    Idle = 0,
    Acknowledged = 1,
    Error = 2,
    CommandFormatError = 3,

    /// <summary>The device cannot run the command now (locked, asleep); it checks in again later.</summary>
    NotNow = 4,
}

/// <summary>One entry of a device's <c>ErrorChain</c>.</summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-error")]
public sealed record MdmError(
    [property: Id(0)] long Code,
    [property: Id(1)] string? Domain,
    [property: Id(2)] string? Description);

/// <summary>A profile the device reports installed, from a <c>ProfileList</c> answer.</summary>
[GenerateSerializer, Immutable, Alias("fleet.installed-profile")]
public sealed record InstalledProfile(
    [property: Id(0)] string Identifier,
    [property: Id(1)] string? DisplayName,
    [property: Id(2)] DateTimeOffset? InstallDate);

/// <summary>
/// One command-channel report, decoded by the Api. <see cref="DeviceInformation"/> and
/// <see cref="ProfileList"/> are filled when the report answers those commands.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-report")]
public sealed record MdmReport(
    [property: Id(0)] string Udid,
    [property: Id(1)] MdmResultStatus Status,
    [property: Id(2)] string? CommandUuid,
    [property: Id(3)] IReadOnlyList<MdmError> ErrorChain,
    [property: Id(4)] MdmDeviceFacts? DeviceInformation,
    [property: Id(5)] IReadOnlyList<InstalledProfile>? ProfileList)
{
    /// <summary>The identity certificate the request came with, checked by the Api (signature, chain, validity); null for none.</summary>
    [Id(6)] public DeviceCertificate? Certificate { get; init; }
}

/// <summary>The commands the service sends.</summary>
[GenerateSerializer, Alias("fleet.mdm-command-kind")]
public enum MdmCommandKind
{
    DeviceInformation = 0,
    ProfileList = 1,
    InstallProfile = 2,
    RemoveProfile = 3,

    /// <summary>Installs a renewed device identity (a PKCS#12 payload issued by the service's CA).</summary>
    RenewIdentity = 4,
}

/// <summary>
/// A command for the device, as the Api renders it into a plist. Profile fields are set for
/// <see cref="MdmCommandKind.InstallProfile"/> (all three) and <see cref="MdmCommandKind.RemoveProfile"/> (identifier).
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-command")]
public sealed record MdmCommand(
    [property: Id(0)] string CommandUuid,
    [property: Id(1)] MdmCommandKind Kind,
    [property: Id(2)] string? ProfileIdentifier = null,
    [property: Id(3)] string? ProfileDisplayName = null,
    [property: Id(4)] string? ProfileChecksum = null)
{
    /// <summary>For <see cref="MdmCommandKind.RenewIdentity"/>: the identity to install, issued for this hand-out only.</summary>
    [Id(5)] public IssuedIdentity? Identity { get; init; }
}

/// <summary>
/// How the host took a check-in. <see cref="Problem"/> says why it was not used (the device still gets 200),
/// unless <see cref="Identity"/> refused the certificate: then nothing changed and the device gets 401 or 403.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-checkin-result")]
public sealed record MdmCheckInResult(
    [property: Id(0)] bool Accepted,
    [property: Id(1)] string? Problem = null,
    [property: Id(2)] IdentityVerdict Identity = IdentityVerdict.Accepted);

/// <summary>
/// How the host took a command report, and the next command for the device (null: answer an empty 200).
/// <see cref="Problem"/> says why the report could not be used (unknown command, host not enrolled); the
/// device still gets 200 so that it does not resend forever.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-report-result")]
public sealed record MdmReportResult(
    [property: Id(0)] MdmCommand? Next,
    [property: Id(1)] string? Problem = null,
    [property: Id(2)] IdentityVerdict Identity = IdentityVerdict.Accepted);
