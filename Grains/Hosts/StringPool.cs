using System.Collections.Concurrent;
using Fleet.Contracts;

namespace Fleet.Grains.Hosts;

/// <summary>
/// A bounded set of shared string instances, so that values most hosts have in common (platform, OS name and
/// version, osquery version, hardware model, CPU brand) are held once per silo rather than once per active host.
/// Once full it adds nothing more and hands strings back as they came: an agent sending endless distinct values
/// can fill it, but never grow it.
/// </summary>
public sealed class StringPool(int capacity, int maxLength)
{
    /// <summary>Distinct values the silo-wide pool keeps: far more than the OS and hardware variants of a fleet.</summary>
    public const int DefaultCapacity = 4096;

    /// <summary>Longest value the silo-wide pool keeps; longer ones are not low-cardinality fields.</summary>
    public const int DefaultMaxLength = 128;

    private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);

    /// <summary>The silo-wide pool for host details.</summary>
    public static StringPool Shared { get; } = new(DefaultCapacity, DefaultMaxLength);

    /// <summary>How many distinct values the pool holds.</summary>
    public int Count => _strings.Count;

    /// <summary>The pool's instance equal to <paramref name="value"/>, added if there is room; else the value itself.</summary>
    public string? Intern(string? value)
    {
        if (value is null || value.Length > maxLength)
        {
            return value;
        }

        if (_strings.TryGetValue(value, out var shared))
        {
            return shared;
        }

        // Concurrent adds may pass the capacity by a few entries; the bound is on growth, not exact.
        return _strings.Count < capacity ? _strings.GetOrAdd(value, value) : value;
    }

    /// <summary>
    /// <paramref name="details"/> with its low-cardinality fields taken from the pool. Identity fields (UUID, serial,
    /// hostname, addresses) are unique per host and left alone.
    /// </summary>
    public HostDetails? Intern(HostDetails? details)
    {
        if (details is null)
        {
            return null;
        }

        return details with
        {
            Platform = Intern(details.Platform),
            OsName = Intern(details.OsName),
            OsVersion = Intern(details.OsVersion),
            OsBuild = Intern(details.OsBuild),
            OsqueryVersion = Intern(details.OsqueryVersion),
            HardwareModel = Intern(details.HardwareModel),
            HardwareVendor = Intern(details.HardwareVendor),
            CpuBrand = Intern(details.CpuBrand),
            Arch = Intern(details.Arch),
            KernelVersion = Intern(details.KernelVersion),
        };
    }
}
