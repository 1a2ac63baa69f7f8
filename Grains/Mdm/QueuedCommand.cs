using Fleet.Contracts;

namespace Fleet.Grains.Mdm;

/// <summary>
/// A command in a host's MDM queue. It stays queued until the device answers <c>Acknowledged</c>,
/// <c>Error</c> or <c>CommandFormatError</c>. Immutable; the queue replaces entries.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.queued-command")]
public sealed record QueuedCommand
{
    [Id(0)] public required string CommandUuid { get; init; }
    [Id(1)] public required MdmCommandKind Kind { get; init; }
    [Id(2)] public required DateTimeOffset QueuedAt { get; init; }

    /// <summary>For profile commands: the profile's identifier, display name and checksum.</summary>
    [Id(3)] public string? ProfileIdentifier { get; init; }
    [Id(4)] public string? ProfileDisplayName { get; init; }
    [Id(5)] public string? ProfileChecksum { get; init; }

    /// <summary>For the commands a refetch queued (<c>DeviceInformation</c>, <c>ProfileList</c>): its epoch.</summary>
    [Id(6)] public int? Epoch { get; init; }

    /// <summary>When the command was last handed to the device, and in which device session.</summary>
    [Id(7)] public DateTimeOffset? SentAt { get; init; }
    [Id(8)] public long? SentInSession { get; init; }

    /// <summary>The device session in which the device last answered <c>NotNow</c>; skipped for the rest of it.</summary>
    [Id(9)] public long? NotNowInSession { get; init; }
    [Id(10)] public int NotNowCount { get; init; }

    public MdmCommand ToCommand() =>
        new(CommandUuid, Kind, ProfileIdentifier, ProfileDisplayName, ProfileChecksum);
}
