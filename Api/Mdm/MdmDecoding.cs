using Fleet.Api.Agents;
using Fleet.Api.Mdm.Plist;
using Fleet.Contracts;

namespace Fleet.Api.Mdm;

/// <summary>
/// Maps Apple's check-in and command-report dictionaries onto the contracts. Unknown keys are ignored;
/// push tokens, push magic and unlock tokens are never put into an error sentence.
/// </summary>
internal static class MdmDecoding
{
    /// <summary>Longest fact or profile field kept; longer values are cut, as osquery values are.</summary>
    public const int MaxValueLength = 255;

    /// <summary>Most error-chain entries and installed profiles kept from one report.</summary>
    public const int MaxErrorChain = 16;
    public const int MaxProfiles = 1000;

    /// <summary>The user-channel check-in Apple lets a server decline with 410.</summary>
    public const string UserAuthenticate = "UserAuthenticate";

    private static readonly Dictionary<string, MdmCheckInType> s_checkInTypes = new(StringComparer.Ordinal)
    {
        ["Authenticate"] = MdmCheckInType.Authenticate,
        ["TokenUpdate"] = MdmCheckInType.TokenUpdate,
        ["CheckOut"] = MdmCheckInType.CheckOut,
    };

    private static readonly Dictionary<string, MdmResultStatus> s_statuses = new(StringComparer.Ordinal)
    {
        ["Idle"] = MdmResultStatus.Idle,
        ["Acknowledged"] = MdmResultStatus.Acknowledged,
        ["Error"] = MdmResultStatus.Error,
        ["CommandFormatError"] = MdmResultStatus.CommandFormatError,
        ["NotNow"] = MdmResultStatus.NotNow,
    };

    /// <summary>The check-in types the service understands, spelled as Apple does; false for any other <c>MessageType</c>.</summary>
    public static bool TryCheckInType(string? messageType, out MdmCheckInType type)
    {
        type = default;

        return messageType is not null && s_checkInTypes.TryGetValue(messageType, out type);
    }

    /// <summary>Decodes a check-in of a known type; the error says what a <c>TokenUpdate</c> lacks.</summary>
    public static Parsed<MdmCheckIn> CheckIn(string hostId, MdmCheckInType type, PlistDict message)
    {
        MdmPushTarget? push = null;
        if (type == MdmCheckInType.TokenUpdate)
        {
            var token = message.GetData("Token");
            var magic = message.GetString("PushMagic");
            var topic = message.GetString("Topic");
            if (token is null || token.Value.IsEmpty || string.IsNullOrEmpty(magic) || string.IsNullOrEmpty(topic))
            {
                return Parsed<MdmCheckIn>.Fail("A TokenUpdate needs Token (data), PushMagic and Topic (strings).");
            }

            push = new MdmPushTarget(token.ToHex(), magic, topic);
        }

        var facts = type == MdmCheckInType.CheckOut ? null : Facts(message);

        return new Parsed<MdmCheckIn>(new MdmCheckIn(type, hostId, facts, push), null);
    }

    /// <summary>Decodes a command report; the error says why the server cannot use it.</summary>
    public static Parsed<MdmReport> Report(string hostId, PlistDict message)
    {
        var statusWord = message.GetString("Status");
        if (!TryStatus(statusWord, out var status))
        {
            return Parsed<MdmReport>.Fail(statusWord is null
                ? "the report has no Status"
                : $"Status '{Bounded(statusWord, 40)}' is not Idle, Acknowledged, Error, CommandFormatError or NotNow");
        }

        var commandUuid = Bounded(message.GetString("CommandUUID"), MaxValueLength);
        if (status != MdmResultStatus.Idle && string.IsNullOrEmpty(commandUuid))
        {
            return Parsed<MdmReport>.Fail($"a {status} report names no CommandUUID");
        }

        var report = new MdmReport(
            hostId,
            status,
            status == MdmResultStatus.Idle ? null : commandUuid,
            ErrorChain(message),
            message.GetDict("QueryResponses") is { } answers ? Facts(answers) ?? new MdmDeviceFacts() : null,
            message.GetArray("ProfileList") is { } profiles ? InstalledProfiles(profiles) : null);

        return new Parsed<MdmReport>(report, null);
    }

    private static bool TryStatus(string? word, out MdmResultStatus status)
    {
        status = default;

        return word is not null && s_statuses.TryGetValue(word, out status);
    }

    /// <summary>What a check-in or a <c>DeviceInformation</c> answer says about the device; null when it says nothing.</summary>
    private static MdmDeviceFacts? Facts(PlistDict message)
    {
        var facts = new MdmDeviceFacts
        {
            SerialNumber = Fact(message, "SerialNumber"),
            Model = Fact(message, "Model"),
            ModelName = Fact(message, "ModelName"),
            ProductName = Fact(message, "ProductName"),
            OsVersion = Fact(message, "OSVersion"),
            BuildVersion = Fact(message, "BuildVersion"),
            DeviceName = Fact(message, "DeviceName"),
            HostName = Fact(message, "HostName"),
        };

        return facts == new MdmDeviceFacts() ? null : facts;
    }

    private static IReadOnlyList<MdmError> ErrorChain(PlistDict message)
    {
        if (message.GetArray("ErrorChain") is not { } chain)
        {
            return [];
        }

        return
        [
            .. chain.Items.OfType<PlistDict>().Take(MaxErrorChain).Select(error => new MdmError(
                error.GetInteger("ErrorCode") ?? 0,
                Fact(error, "ErrorDomain"),
                Fact(error, "USEnglishDescription") ?? Fact(error, "LocalizedDescription"))),
        ];
    }

    private static List<InstalledProfile> InstalledProfiles(PlistArray list) =>
    [
        .. list.Items.OfType<PlistDict>()
            .Where(profile => !string.IsNullOrEmpty(profile.GetString("PayloadIdentifier")))
            .Take(MaxProfiles)
            .Select(profile => new InstalledProfile(
                Fact(profile, "PayloadIdentifier")!,
                Fact(profile, "PayloadDisplayName"),
                profile.GetDate("InstallDate"))),
    ];

    private static string? Fact(PlistDict message, string key) => Bounded(message.GetString(key), MaxValueLength);

    private static string? Bounded(string? value, int length) =>
        value is null || value.Length <= length ? value : value[..length];
}
