using Fleet.Contracts;
using Fleet.Grains.Hosts;
using Fleet.Grains.Osquery;

namespace Fleet.Tests.Hosts;

/// <summary>The bounded pool that lets active hosts share their low-cardinality detail strings.</summary>
public sealed class StringPoolTests
{
    // Equal text in distinct instances, as two hosts' deserialized states hold it.
    private static string Fresh(string text) => new(text.AsSpan());

    [Fact]
    public void Intern_EqualStrings_ReturnsTheFirstInstance()
    {
        var pool = new StringPool(capacity: 10, maxLength: 64);
        var first = Fresh("Ubuntu");
        var second = Fresh("Ubuntu");

        string?[] interned = [pool.Intern(first), pool.Intern(second)];

        Assert.False(ReferenceEquals(first, second), "the test needs two instances of the same text");
        Assert.All(interned, s => Assert.Same(first, s));
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void Intern_WhenFull_ReturnsNewValuesAsGivenAndStopsGrowing()
    {
        var pool = new StringPool(capacity: 2, maxLength: 64);
        var darwin = pool.Intern(Fresh("darwin"));
        pool.Intern("linux");
        var third = Fresh("windows");

        var kept = pool.Intern(Fresh("darwin"));
        var notKept = pool.Intern(third);

        Assert.Same(darwin, kept);
        Assert.Same(third, notKept);
        Assert.NotSame(third, pool.Intern(Fresh("windows")));
        Assert.Equal(2, pool.Count);
    }

    [Fact]
    public void Intern_LongerThanTheLimitOrNull_IsNotPooled()
    {
        var pool = new StringPool(capacity: 10, maxLength: 4);
        var longer = Fresh("12345");

        var result = pool.Intern(longer);

        Assert.Same(longer, result);
        Assert.Null(pool.Intern((string?)null));
        Assert.Equal(0, pool.Count);
    }

    [Fact]
    public void InternDetails_SharesLowCardinalityFieldsAndKeepsIdentityFields()
    {
        var pool = new StringPool(capacity: 100, maxLength: 128);
        HostDetails Host(string serial) => new()
        {
            HardwareUuid = Fresh("uuid-" + serial), Serial = Fresh(serial), Hostname = Fresh("host-" + serial),
            Platform = Fresh("darwin"), OsName = Fresh("macOS"), OsVersion = Fresh("14.1.2"), OsBuild = Fresh("23B92"),
            OsqueryVersion = Fresh("5.10.2"), HardwareModel = Fresh("MacBookPro18,3"), HardwareVendor = Fresh("Apple Inc."),
            CpuBrand = Fresh("Apple M1 Pro"), Arch = Fresh("arm64"), KernelVersion = Fresh("23.1.0"),
        };
        var first = Host("A1");
        var second = Host("B2");

        var a = pool.Intern(first)!;
        var b = pool.Intern(second)!;

        Assert.Equal(second, b);
        Assert.Same(a.Platform, b.Platform);
        Assert.Same(a.OsName, b.OsName);
        Assert.Same(a.OsVersion, b.OsVersion);
        Assert.Same(a.OsBuild, b.OsBuild);
        Assert.Same(a.OsqueryVersion, b.OsqueryVersion);
        Assert.Same(a.HardwareModel, b.HardwareModel);
        Assert.Same(a.HardwareVendor, b.HardwareVendor);
        Assert.Same(a.CpuBrand, b.CpuBrand);
        Assert.Same(a.Arch, b.Arch);
        Assert.Same(a.KernelVersion, b.KernelVersion);
        Assert.Same(second.Serial, b.Serial);
        Assert.Same(second.Hostname, b.Hostname);
        Assert.Equal(10, pool.Count);
    }

    [Fact]
    public void FromEnrollment_TwoHostsWithTheSameOs_ShareTheOsStrings()
    {
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Enrollment() => new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["os_version"] = new Dictionary<string, string>
            {
                ["platform"] = Fresh("ubuntu"), ["name"] = Fresh("Ubuntu"), ["version"] = Fresh("22.04.3 LTS (Jammy Jellyfish)"),
            },
        };

        var a = DetailIngest.FromEnrollment("HOST-A", Enrollment());
        var b = DetailIngest.FromEnrollment("HOST-B", Enrollment());

        Assert.Equal("22.04.3 LTS (Jammy Jellyfish)", b.OsVersion);
        Assert.Same(a.OsName, b.OsName);
        Assert.Same(a.OsVersion, b.OsVersion);
    }
}
