using System.Buffers;
using System.Text.Json;
using Fleet.Api.Hosting;
using Fleet.Contracts;

namespace Fleet.Api.Agents;

/// <summary>A parsed agent message, or why it could not be parsed; <see cref="TooLarge"/> when it was over its limit.</summary>
internal readonly record struct Parsed<T>(T? Value, string? Error, bool TooLarge = false)
{
    public static Parsed<T> Fail(string error) => new(default, error);

    public static Parsed<T> Oversized(int limit) => new(default, $"The body is larger than {limit} bytes.", TooLarge: true);
}

/// <summary>An enrollment after parsing: the canonical host id and what the agent said about itself.</summary>
internal sealed record EnrollMessage(
    string HostId,
    string? EnrollSecret,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> HostDetails);

/// <summary>A <c>distributed/write</c> after parsing: only detail queries are kept.</summary>
internal sealed record WriteMessage(string NodeKey, DetailResults Results);

/// <summary>
/// Reads osquery's JSON bodies by hand with bounded size and depth, so every malformed body gets a
/// sentence that says what is wrong instead of a binder exception. Its dictionaries keep the default
/// comparer, which is ordinal for string keys already: one named explicitly is serialized by Orleans with
/// every dictionary that goes to the host grain, a row of a <c>distributed/write</c> included.
/// </summary>
internal static class OsqueryMessages
{
    /// <summary>Config and distributed read carry only the node key (~100 bytes).</summary>
    public const int MaxNodeKeyBodyBytes = 16 * 1024;

    /// <summary>30 times the largest real enrollment measured (2,121 bytes, osquery-perf macOS 14.1.2).</summary>
    public const int MaxEnrollBodyBytes = 64 * 1024;

    /// <summary>
    /// About 60 times the largest real detail-query write measured (4,230 bytes, osquery-perf macOS 14.1.2); only
    /// detail queries are sent to this server, so inventory-sized writes do not come.
    /// </summary>
    public const int MaxWriteBodyBytes = 256 * 1024;

    /// <summary>
    /// Result logs: osquery batches up to 1,024 lines a request. No real log body was at hand to measure, so the
    /// limit is the former 1 MiB for every endpoint.
    /// </summary>
    public const int MaxLogBodyBytes = 1024 * 1024;

    private static readonly JsonDocumentOptions s_options = new() { MaxDepth = FleetJson.MaxDepth };

    public static Task<Parsed<string>> ReadNodeKeyAsync(HttpRequest request, int limit, CancellationToken cancellationToken) =>
        ReadAsync(request, limit, ParseNodeKey, cancellationToken);

    public static Task<Parsed<EnrollMessage>> ReadEnrollAsync(HttpRequest request, CancellationToken cancellationToken) =>
        ReadAsync(request, MaxEnrollBodyBytes, ParseEnroll, cancellationToken);

    public static Task<Parsed<WriteMessage>> ReadWriteAsync(HttpRequest request, CancellationToken cancellationToken) =>
        ReadAsync(request, MaxWriteBodyBytes, ParseWrite, cancellationToken);

    /// <summary>
    /// Reads and parses a body. Text that is valid JSON but not valid Unicode (invalid UTF-8, lone
    /// surrogates in escapes) only fails when a string is read, so that is caught here too. The body is parsed
    /// where Kestrel buffered it, and those buffers go back to the pipe only once the document is gone.
    /// </summary>
    private static async Task<Parsed<T>> ReadAsync<T>(
        HttpRequest request, int limit, Func<JsonElement, Parsed<T>> parse, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return Parsed<T>.Oversized(limit);
        }

        var reader = request.BodyReader;
        var read = await reader.ReadAsync(cancellationToken);
        while (!read.IsCompleted && read.Buffer.Length <= limit)
        {
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            read = await reader.ReadAsync(cancellationToken);
        }

        try
        {
            return read.Buffer.Length > limit ? Parsed<T>.Oversized(limit) : Parse(read.Buffer, parse);
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    private static Parsed<T> Parse<T>(ReadOnlySequence<byte> body, Func<JsonElement, Parsed<T>> parse)
    {
        if (body.IsEmpty)
        {
            return Parsed<T>.Fail("The body is empty; osquery sends a JSON object.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, s_options);
        }
        catch (JsonException exception)
        {
            return Parsed<T>.Fail($"The body is not valid JSON: {exception.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return Parsed<T>.Fail("The body must be a JSON object.");
            }

            try
            {
                return parse(document.RootElement);
            }
            catch (InvalidOperationException)
            {
                return Parsed<T>.Fail("The body contains a string that is not valid UTF-8 or UTF-16 text.");
            }
        }
    }

    private static Parsed<string> ParseNodeKey(JsonElement root) =>
        NodeKeyOf(root, out var nodeKey) is { } keyError ? Parsed<string>.Fail(keyError) : new Parsed<string>(nodeKey, null);

    private static Parsed<EnrollMessage> ParseEnroll(JsonElement root)
    {
        var secret = OptionalString(root, "enroll_secret");
        var tables = new Dictionary<string, IReadOnlyDictionary<string, string>>();
        if (root.TryGetProperty("host_details", out var details))
        {
            if (details.ValueKind != JsonValueKind.Object)
            {
                return Parsed<EnrollMessage>.Fail("host_details must be an object of tables.");
            }

            foreach (var table in details.EnumerateObject())
            {
                if (table.Value.ValueKind == JsonValueKind.Object)
                {
                    tables[table.Name] = Row(table.Value);
                }
            }
        }

        // osquery's host_identifier may be a hostname; the hardware UUID identifies the machine.
        // Some VMs and containers report an empty system_info.uuid; then the host_identifier must do.
        var uuid = tables.GetValueOrDefault("system_info")?.GetValueOrDefault("uuid") is { Length: > 0 } hardware
            && !string.IsNullOrWhiteSpace(hardware)
            ? hardware
            : OptionalString(root, "host_identifier");
        if (!HostIds.TryNormalize(uuid, out var hostId))
        {
            return Parsed<EnrollMessage>.Fail(
                "The enrollment names no hardware UUID: send host_details.system_info.uuid or a UUID host_identifier.");
        }

        return new Parsed<EnrollMessage>(new EnrollMessage(hostId, secret, tables), null);
    }

    private static Parsed<WriteMessage> ParseWrite(JsonElement root)
    {
        if (NodeKeyOf(root, out var nodeKey) is { } keyError)
        {
            return Parsed<WriteMessage>.Fail(keyError);
        }

        var rows = new Dictionary<string, IReadOnlyList<IReadOnlyDictionary<string, string>>>();
        if (root.TryGetProperty("queries", out var queries))
        {
            if (queries.ValueKind != JsonValueKind.Object)
            {
                return Parsed<WriteMessage>.Fail("queries must be an object of query name to rows.");
            }

            foreach (var query in queries.EnumerateObject())
            {
                if (DetailName(query.Name) is not { } name)
                {
                    continue;
                }

                if (query.Value.ValueKind == JsonValueKind.Null)
                {
                    rows[name] = [];
                    continue;
                }

                if (query.Value.ValueKind != JsonValueKind.Array)
                {
                    return Parsed<WriteMessage>.Fail($"queries.{query.Name} must be an array of rows.");
                }

                var list = new List<IReadOnlyDictionary<string, string>>();
                foreach (var row in query.Value.EnumerateArray())
                {
                    if (row.ValueKind != JsonValueKind.Object)
                    {
                        return Parsed<WriteMessage>.Fail($"queries.{query.Name} has a row that is not an object.");
                    }

                    list.Add(Row(row));
                }

                rows[name] = list;
            }
        }

        var statuses = new Dictionary<string, int>();
        if (root.TryGetProperty("statuses", out var statusesElement) && statusesElement.ValueKind == JsonValueKind.Object)
        {
            foreach (var status in statusesElement.EnumerateObject())
            {
                if (DetailName(status.Name) is not { } name)
                {
                    continue;
                }

                if (!TryStatus(status.Value, out var code))
                {
                    return Parsed<WriteMessage>.Fail($"statuses.{status.Name} must be an integer.");
                }

                statuses[name] = code;
            }
        }

        var messages = new Dictionary<string, string>();
        if (root.TryGetProperty("messages", out var messagesElement) && messagesElement.ValueKind == JsonValueKind.Object)
        {
            foreach (var message in messagesElement.EnumerateObject())
            {
                if (DetailName(message.Name) is { } name && message.Value.ValueKind == JsonValueKind.String)
                {
                    messages[name] = message.Value.GetString()!;
                }
            }
        }

        return new Parsed<WriteMessage>(new WriteMessage(nodeKey!, new DetailResults(rows, statuses, messages)), null);
    }

    private static string? NodeKeyOf(JsonElement root, out string? nodeKey)
    {
        nodeKey = null;
        if (!root.TryGetProperty("node_key", out var element))
        {
            return "node_key is missing.";
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            return "node_key must be a string.";
        }

        nodeKey = element.GetString();

        return null;
    }

    private static string? DetailName(string wireName) =>
        wireName.StartsWith(DetailQueryNames.Prefix, StringComparison.Ordinal) && wireName.Length > DetailQueryNames.Prefix.Length
            ? wireName[DetailQueryNames.Prefix.Length..]
            : null;

    private static bool TryStatus(JsonElement value, out int code)
    {
        code = 0;

        return value.ValueKind switch
        {
            JsonValueKind.Number => value.TryGetInt32(out code),
            JsonValueKind.String => int.TryParse(value.GetString(), System.Globalization.CultureInfo.InvariantCulture, out code),
            _ => false,
        };
    }

    private static string? OptionalString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    // osquery sends every column as a string; older agents and tools sometimes send numbers or booleans.
    private static Dictionary<string, string> Row(JsonElement row)
    {
        var columns = new Dictionary<string, string>();
        foreach (var column in row.EnumerateObject())
        {
            columns[column.Name] = column.Value.ValueKind switch
            {
                JsonValueKind.String => column.Value.GetString()!,
                JsonValueKind.Null => string.Empty,
                JsonValueKind.Object or JsonValueKind.Array => string.Empty,
                _ => column.Value.GetRawText(),
            };
        }

        return columns;
    }
}
