using System.Globalization;

namespace Fleet.AgentSimulator;

/// <summary>The values that make one simulated host distinct from every other.</summary>
/// <param name="Uuid">Hardware UUID, also the osquery host identifier. Upper-case.</param>
/// <param name="Serial">Hardware serial number.</param>
/// <param name="Hostname">Hostname, computer name and local hostname.</param>
public sealed record HostIdentity(string Uuid, string Serial, string Hostname)
{
    /// <summary>The largest host number <see cref="Create"/> accepts; the serial has six digits for it.</summary>
    public const int MaxNumber = 999_999;

    /// <summary>The largest seed <see cref="Create"/> accepts; the UUID has eight digits for it.</summary>
    public const int MaxSeed = 99_999_999;

    /// <summary>
    /// Builds the identity of host <paramref name="number"/> (1-based) for a run with
    /// <paramref name="seed"/>. The same seed and number always give the same identity, so a
    /// rerun enrolls the same hosts again; a different seed gives different UUIDs. Seed and
    /// number are written in decimal, so host 18 of seed 1 is <c>00000001-0000-4000-8000-000000000018</c>.
    /// </summary>
    public static HostIdentity Create(HostProfile profile, int seed, int number)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seed);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(seed, MaxSeed);
        ArgumentOutOfRangeException.ThrowIfLessThan(number, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(number, MaxNumber);

        var uuid = string.Create(CultureInfo.InvariantCulture, $"{seed:D8}-0000-4000-8000-{number:D12}");
        var serial = string.Create(CultureInfo.InvariantCulture, $"SIM{seed % 1000:D3}{number:D6}");
        var hostname = string.Create(CultureInfo.InvariantCulture, $"sim-{profile.Name}-{number:D4}");

        return new HostIdentity(uuid, serial, hostname);
    }
}
