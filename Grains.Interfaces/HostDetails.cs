namespace Fleet.Contracts;

/// <summary>
/// What the service knows about a machine, from its enrollment and from the detail queries it answered.
/// Empty strings never appear: an unknown value is <see langword="null"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.host-details")]
public sealed record HostDetails
{
    [Id(0)] public string? HardwareUuid { get; init; }
    [Id(1)] public string? Serial { get; init; }
    [Id(2)] public string? Hostname { get; init; }
    [Id(3)] public string? ComputerName { get; init; }

    /// <summary>Platform family: <c>darwin</c>, <c>linux</c>, <c>windows</c>, or what the agent reported.</summary>
    [Id(4)] public string? Platform { get; init; }
    [Id(5)] public string? OsName { get; init; }
    [Id(6)] public string? OsVersion { get; init; }
    [Id(7)] public string? OsBuild { get; init; }
    [Id(8)] public string? OsqueryVersion { get; init; }
    [Id(9)] public string? HardwareModel { get; init; }
    [Id(10)] public string? HardwareVendor { get; init; }
    [Id(11)] public string? CpuBrand { get; init; }
    [Id(12)] public int? CpuLogicalCores { get; init; }
    [Id(13)] public long? PhysicalMemory { get; init; }
    [Id(14)] public long? UptimeSeconds { get; init; }
    [Id(15)] public string? PrimaryIp { get; init; }
    [Id(16)] public string? PrimaryMac { get; init; }
    [Id(17)] public string? Arch { get; init; }
    [Id(18)] public string? KernelVersion { get; init; }
}
