using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fleet.AgentSimulator;

/// <summary>
/// The real osquery request bodies rendered from Fleet's osquery-perf templates
/// (<c>test/payloads/osquery-perf/rendered/</c>, embedded in this assembly), with a simulated
/// host's identity put in place of the placeholders they were rendered with.
/// </summary>
public static class AgentPayloads
{
    /// <summary>The host UUID (and osquery host identifier) the payloads were rendered with.</summary>
    public const string PlaceholderUuid = "00000000-0000-4000-8000-000000000001";

    /// <summary>The hardware serial the payloads were rendered with.</summary>
    public const string PlaceholderSerial = "TESTSERIAL001";

    private static readonly ConcurrentDictionary<string, string> s_texts = new(StringComparer.Ordinal);

    /// <summary>The <c>/api/osquery/enroll</c> body for this host, with <paramref name="enrollSecret"/>.</summary>
    public static JsonObject EnrollBody(HostProfile profile, HostIdentity identity, string enrollSecret)
    {
        var body = Parse(profile, identity, "enroll");
        body["enroll_secret"] = enrollSecret;

        return body;
    }

    /// <summary>
    /// The result rows of every query in the profile's <c>distributed/write</c> payload, keyed by
    /// query name (<c>fleet_detail_query_*</c> and <c>fleet_label_query_*</c>).
    /// </summary>
    public static JsonObject QueryResults(HostProfile profile, HostIdentity identity)
    {
        var write = Parse(profile, identity, "distributed_write");

        return write["queries"] as JsonObject
            ?? throw new InvalidDataException($"{profile.PayloadName}.distributed_write.json has no queries.");
    }

    /// <summary>The result rows for one query, or an empty array when the payload has none for it.</summary>
    public static JsonArray Rows(HostProfile profile, HostIdentity identity, string queryName) =>
        QueryResults(profile, identity)[queryName] is JsonArray rows ? (JsonArray)rows.DeepClone() : [];

    private static JsonObject Parse(HostProfile profile, HostIdentity identity, string kind)
    {
        var text = s_texts.GetOrAdd($"{profile.PayloadName}.{kind}.json", Load)
            .Replace(PlaceholderUuid, Escaped(identity.Uuid), StringComparison.Ordinal)
            .Replace(PlaceholderSerial, Escaped(identity.Serial), StringComparison.Ordinal)
            .Replace(profile.PlaceholderHostname, Escaped(identity.Hostname), StringComparison.Ordinal);

        return JsonNode.Parse(text) as JsonObject
            ?? throw new InvalidDataException($"{profile.PayloadName}.{kind}.json is not a JSON object.");
    }

    // The placeholders only ever stand inside JSON strings, so any value is safe once escaped.
    private static string Escaped(string value) => JsonEncodedText.Encode(value).Value;

    private static string Load(string fileName)
    {
        var resource = "payloads/" + fileName;
        using var stream = typeof(AgentPayloads).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded payload '{resource}' is missing from the build.");
        using var reader = new StreamReader(stream);

        return reader.ReadToEnd();
    }
}
