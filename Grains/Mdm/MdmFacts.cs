using Fleet.Contracts;

namespace Fleet.Grains.Mdm;

/// <summary>What a device says about itself over MDM, merged into the host's details.</summary>
public static class MdmFacts
{
    /// <summary>
    /// The details after an <c>Authenticate</c> or a <c>DeviceInformation</c> answer: the OS version and build,
    /// serial and names the device reports win; the platform and model are filled only where osquery left them empty.
    /// </summary>
    public static HostDetails Merge(HostDetails details, MdmDeviceFacts? facts)
    {
        if (facts is null)
        {
            return details;
        }

        var deviceName = Known(facts.DeviceName);

        return details with
        {
            Platform = details.Platform ?? Platforms.FromAppleProductName(Known(facts.ProductName)),
            HardwareModel = details.HardwareModel ?? Known(facts.ProductName),
            OsVersion = Known(facts.OsVersion) ?? details.OsVersion,
            OsBuild = Known(facts.BuildVersion) ?? details.OsBuild,
            Serial = Known(facts.SerialNumber) ?? details.Serial,
            Hostname = Known(facts.HostName) ?? deviceName ?? details.Hostname,
            ComputerName = deviceName ?? details.ComputerName,
        };
    }

    private static string? Known(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
