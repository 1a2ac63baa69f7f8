using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fleet.Bench;

/// <summary>A kind of simulated host: the rendered osquery-perf payloads it replays.</summary>
internal sealed record HostProfile(string Name, string PayloadName, string PlaceholderHostname)
{
    public static HostProfile Ubuntu { get; } = new("ubuntu", "ubuntu_22.04", "test-linux-01");

    public static HostProfile MacOS14 { get; } = new("macos14", "macos_14.1.2", "test-mac-01");

    public static HostProfile MacOS15 { get; } = new("macos15", "macos_15.1", "test-mac-01");

    /// <summary>
    /// No Windows capture is stored, so a Windows host replays the Ubuntu payloads with the <c>os_version</c> row
    /// of a Windows 11 machine (see <see cref="Payloads"/>); only the platform and OS version words matter here.
    /// </summary>
    public static HostProfile Windows { get; } = new("windows", "ubuntu_22.04", "test-linux-01");

    public static IReadOnlyList<HostProfile> All { get; } = [Ubuntu, MacOS14, MacOS15, Windows];
}

/// <summary>
/// One simulated machine. Its request bodies are made from the real payloads with its own UUID, serial,
/// hostname and node key; the no-op check-in body is kept as bytes so the load loops only copy it.
/// </summary>
internal sealed class SimHost(int index, string uuid, HostProfile profile)
{
    public int Index { get; } = index;

    /// <summary>The hardware UUID, already canonical (upper-case hex and dashes), so it is the host id.</summary>
    public string Uuid { get; } = uuid;

    public HostProfile Profile { get; } = profile;

    public string Serial => string.Create(CultureInfo.InvariantCulture, $"BENCH{Index:D9}");

    public string Hostname => string.Create(CultureInfo.InvariantCulture, $"bench-{Profile.Name}-{Index}");

    public string? NodeKey { get; private set; }

    /// <summary><c>{"node_key": ...}</c>, the body of config, distributed/read and log.</summary>
    public byte[] ReadBody { get; private set; } = [];

    public void Enrolled(string nodeKey)
    {
        NodeKey = nodeKey;
        ReadBody = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["node_key"] = nodeKey });
    }
}

/// <summary>
/// The rendered payloads of <c>test/payloads/osquery-perf/rendered/</c>, read once, and the hosts made from
/// them. A population's hosts share a UUID prefix, so populations never collide.
/// </summary>
internal sealed class Payloads
{
    private const string PlaceholderUuid = "00000000-0000-4000-8000-000000000001";
    private const string PlaceholderSerial = "TESTSERIAL001";

    private const string SystemInfoOk = "\"fleet_detail_query_system_info\": 0";

    private readonly Dictionary<string, string> _texts = new(StringComparer.Ordinal);

    public Payloads(string repoRoot)
    {
        var folder = Path.Combine(repoRoot, "test", "payloads", "osquery-perf", "rendered");
        foreach (var profile in HostProfile.All)
        {
            foreach (var kind in new[] { "enroll", "distributed_write" })
            {
                var text = File.ReadAllText(Path.Combine(folder, $"{profile.PayloadName}.{kind}.json"));
                _texts[$"{profile.Name}.{kind}"] = profile == HostProfile.Windows ? AsWindows(text) : text;
            }
        }
    }

    /// <summary>Hosts <paramref name="from"/> to <paramref name="from"/>+<paramref name="count"/>−1 of a population, alternating Ubuntu and macOS 14.</summary>
    public static List<SimHost> MakeHosts(int population, int from, int count)
    {
        var hosts = new List<SimHost>(count);
        for (var i = from; i < from + count; i++)
        {
            var uuid = string.Create(CultureInfo.InvariantCulture, $"{population:X8}-0000-4000-8000-{i:X12}");
            hosts.Add(new SimHost(i, uuid, i % 2 == 0 ? HostProfile.Ubuntu : HostProfile.MacOS14));
        }

        return hosts;
    }

    public byte[] EnrollBody(SimHost host, string enrollSecret) =>
        Encoding.UTF8.GetBytes(Render(host, "enroll").Replace("ENROLL_SECRET", enrollSecret, StringComparison.Ordinal));

    /// <summary>The real distributed/write: every detail query's rows, statuses all 0.</summary>
    public byte[] WriteBody(SimHost host) =>
        Encoding.UTF8.GetBytes(Render(host, "distributed_write").Replace("NODE_KEY", host.NodeKey, StringComparison.Ordinal));

    /// <summary>The real distributed/write with an error status for <c>system_info</c>, which fails the refetch.</summary>
    public byte[] FailingWriteBody(SimHost host) =>
        Encoding.UTF8.GetBytes(Render(host, "distributed_write")
            .Replace("NODE_KEY", host.NodeKey, StringComparison.Ordinal)
            .Replace(SystemInfoOk, SystemInfoOk[..^1] + "1", StringComparison.Ordinal));

    /// <summary>
    /// The host for the silo's benchmark population endpoint: its agent's enrollment <c>host_details</c> and the
    /// detail results of its agent's real write, named without osquery's prefix as the Api passes them to the grain.
    /// </summary>
    public JsonObject PopulateEntry(SimHost host)
    {
        var details = JsonNode.Parse(Render(host, "enroll"))!["host_details"]!.DeepClone();
        var write = JsonNode.Parse(Render(host, "distributed_write"))!.AsObject();

        return new JsonObject
        {
            ["host_id"] = host.Uuid,
            ["host_details"] = details,
            ["rows"] = Unprefixed(write["queries"], rows => rows.DeepClone()),
            ["statuses"] = Unprefixed(write["statuses"], status => status.DeepClone()),
            ["messages"] = Unprefixed(write["messages"], message => message.DeepClone()),
        };
    }

    private static JsonObject Unprefixed(JsonNode? byName, Func<JsonNode, JsonNode> value)
    {
        const string Prefix = "fleet_detail_query_";
        var result = new JsonObject();
        foreach (var (name, node) in byName?.AsObject() ?? [])
        {
            if (name.StartsWith(Prefix, StringComparison.Ordinal) && node is not null)
            {
                result[name[Prefix.Length..]] = value(node);
            }
        }

        return result;
    }

    /// <summary>Rewrites the <c>os_version</c> rows (enrollment's host details and the detail query's answer) as Windows 11's.</summary>
    private static string AsWindows(string json)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var rows = new[] { root["host_details"]?["os_version"], root["queries"]?["fleet_detail_query_os_version"]?[0] };
        foreach (var row in rows.OfType<JsonObject>())
        {
            row["name"] = "Microsoft Windows 11 Pro";
            row["platform"] = "windows";
            row["platform_like"] = "windows";
            row["version"] = "10.0.22631";
            row["major"] = "10";
            row["minor"] = "0";
            row["build"] = "22631";
        }

        return root.ToJsonString();
    }

    private string Render(SimHost host, string kind) =>
        _texts[$"{host.Profile.Name}.{kind}"]
            .Replace(PlaceholderUuid, host.Uuid, StringComparison.OrdinalIgnoreCase)
            .Replace(PlaceholderSerial, host.Serial, StringComparison.Ordinal)
            .Replace(host.Profile.PlaceholderHostname, host.Hostname, StringComparison.Ordinal);
}
