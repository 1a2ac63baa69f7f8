using System.Text.Json.Nodes;

namespace Fleet.Tests.Infrastructure;

/// <summary>The real agent payloads in <c>test/payloads</c> (see its README), with identities swapped per test host.</summary>
public static class Payloads
{
    public const string PayloadUuid = "00000000-0000-4000-8000-000000000001";
    public const string PayloadSerial = "TESTSERIAL001";

    public static string Root => Path.Combine(AppContext.BaseDirectory, "payloads");

    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(Root, relativePath));

    /// <summary>A rendered osquery-perf body (e.g. <c>macos_14.1.2.enroll.json</c>) for the given identity.</summary>
    public static string Osquery(string fileName, TestHostIdentity identity, string enrollSecret = ApiFactory.EnrollSecret) =>
        Read(Path.Combine("osquery-perf", "rendered", fileName))
            .Replace("ENROLL_SECRET", enrollSecret, StringComparison.Ordinal)
            .Replace(PayloadUuid, identity.Uuid.ToLowerInvariant(), StringComparison.Ordinal)
            .Replace(PayloadSerial, identity.Serial, StringComparison.Ordinal);

    /// <summary>The rows of each query in a rendered <c>distributed_write</c> body.</summary>
    public static JsonObject WriteQueries(string fileName, TestHostIdentity identity) =>
        JsonNode.Parse(Osquery(fileName, identity))!["queries"]!.AsObject();
}

/// <summary>A fresh machine identity, so tests sharing a cluster never touch each other's hosts.</summary>
public sealed record TestHostIdentity(string Uuid, string Serial)
{
    public static TestHostIdentity New()
    {
        var uuid = Guid.NewGuid().ToString().ToUpperInvariant();

        return new TestHostIdentity(uuid, "SER" + uuid[..10].Replace("-", "", StringComparison.Ordinal));
    }
}

/// <summary>Which real payload a test host replays.</summary>
public sealed record AgentProfile(string Name, string EnrollFile, string WriteFile)
{
    public static readonly AgentProfile MacOs14 = new("macos14", "macos_14.1.2.enroll.json", "macos_14.1.2.distributed_write.json");
    public static readonly AgentProfile MacOs15 = new("macos15", "macos_15.1.enroll.json", "macos_15.1.distributed_write.json");
    public static readonly AgentProfile MacOs13 = new("macos13", "macos_13.6.2.enroll.json", "macos_13.6.2.distributed_write.json");
    public static readonly AgentProfile Ubuntu = new("ubuntu", "ubuntu_22.04.enroll.json", "ubuntu_22.04.distributed_write.json");
}
