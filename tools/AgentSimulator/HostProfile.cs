namespace Fleet.AgentSimulator;

/// <summary>
/// A kind of simulated host: which rendered osquery-perf payloads it replays and which
/// placeholder hostname those payloads carry.
/// </summary>
/// <param name="Name">The name used on the command line and in host names, e.g. <c>macos14</c>.</param>
/// <param name="PayloadName">The payload file prefix under <c>test/payloads/osquery-perf/rendered/</c>.</param>
/// <param name="PlaceholderHostname">The hostname the rendered payloads use in place of a real one.</param>
public sealed record HostProfile(string Name, string PayloadName, string PlaceholderHostname)
{
    public static HostProfile MacOS14 { get; } = new("macos14", "macos_14.1.2", "test-mac-01");

    /// <summary>macOS 15.1: the 14.1.2 payloads with only the version fields changed (see test/payloads/README.md).</summary>
    public static HostProfile MacOS15 { get; } = new("macos15", "macos_15.1", "test-mac-01");

    public static HostProfile MacOS13 { get; } = new("macos13", "macos_13.6.2", "test-mac-01");

    public static HostProfile Ubuntu { get; } = new("ubuntu", "ubuntu_22.04", "test-linux-01");

    /// <summary>All profiles, in the order hosts are numbered.</summary>
    public static IReadOnlyList<HostProfile> All { get; } = [MacOS14, MacOS15, MacOS13, Ubuntu];

    /// <summary>Whether hosts of this profile are Macs, which also enroll in MDM.</summary>
    public bool IsMac => Name.StartsWith("macos", StringComparison.Ordinal);

    public override string ToString() => Name;
}
