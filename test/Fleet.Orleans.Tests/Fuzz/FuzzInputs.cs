using System.Text;
using System.Text.Json.Nodes;
using CsCheck;

namespace Fleet.Tests.Fuzz;

/// <summary>One generated request body: what was done to make it, and its bytes.</summary>
public sealed record FuzzBody(string Kind, byte[] Bytes)
{
    public static FuzzBody Of(string kind, string text) => new(kind, Encoding.UTF8.GetBytes(text));

    /// <summary>What CsCheck prints for a failing input: the kind and the start of the body, bytes escaped.</summary>
    public override string ToString()
    {
        var preview = Encoding.UTF8.GetString(Bytes, 0, Math.Min(Bytes.Length, 300));

        return $"{Kind} ({Bytes.Length} bytes): {preview}";
    }
}

/// <summary>
/// Generators of hostile input: mutations of real payloads (truncated, bytes changed, invalid UTF-8, structure
/// broken), wrong JSON types, huge strings, deep nesting, oversized bodies, XML entity bombs, and odd ids.
/// </summary>
public static class FuzzInputs
{
    /// <summary>Byte sequences that are not UTF-8: a lone continuation, an overlong '/', a surrogate, 0xFF.</summary>
    private static readonly byte[][] s_invalidUtf8 =
    [
        [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xfe, 0xff], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82],
    ];

    private static readonly string[] s_structural = ["{", "}", "[", "]", "\"", ":", ",", "\\", "<", ">", "&", "\0", "</dict>", "<!--"];

    /// <summary>Pieces of path and query values that have broken servers: traversal, escapes, NUL, unicode.</summary>
    public static readonly string[] HostileTokens =
    [
        "../", "..", "%2e%2e", "%2e%2e%2f", "..%2f", "%2F", "/", "\\", "%5c", "%00", "%", "%zz", "%c0%ae%c0%ae",
        "?x=1", "#frag", ";a=1", "%20", "%09", "\u202e", "é", "\U0001D518", "１２３", "\uFEFF", "{", "}", "*", "'",
        "\"", "<script>", "$(reboot)", "%ff", "%e2%80%ae", "%0d%0aX-Injected:%201", "..;/", "~", "null", "-1",
    ];

    private static readonly Gen<string> s_hostileToken = Gen.OneOf(HostileTokens);

    /// <summary>Mutations of a real body that keep most of it, so the parser gets deep before it fails.</summary>
    public static Gen<FuzzBody> Mutated(byte[] original) => Gen.Frequency(
        (3, Gen.Int[0, original.Length - 1].Select(n => new FuzzBody($"truncated at {n}", original[..n]))),
        (2, Gen.Select(Gen.Int[0, original.Length - 1], Gen.Byte, (at, value) => new FuzzBody($"byte {at} set to 0x{value:x2}", Replace(original, at, value)))),
        (2, Gen.Select(Gen.Int[0, original.Length], Gen.Int[0, s_invalidUtf8.Length - 1], (at, which) =>
            new FuzzBody($"invalid UTF-8 {Convert.ToHexString(s_invalidUtf8[which])} at {at}", Insert(original, at, s_invalidUtf8[which])))),
        (2, Gen.Select(Gen.Int[0, original.Length], Gen.OneOf(s_structural), (at, text) =>
            new FuzzBody($"'{text}' inserted at {at}", Insert(original, at, Encoding.UTF8.GetBytes(text))))),
        (1, Gen.Select(Gen.Int[0, original.Length - 1], Gen.Int[1, 64], (at, length) =>
            new FuzzBody($"{length} bytes cut at {at}", Cut(original, at, length)))),
        (1, Gen.Byte.Array[0, 256].Select(bytes => new FuzzBody("random bytes", bytes))));

    /// <summary>A real JSON body with one value (any depth) replaced by a value of another type or shape.</summary>
    public static Gen<FuzzBody> WrongTypes(string json)
    {
        var count = Paths(JsonNode.Parse(json)!).Count;

        return Gen.Select(Gen.Int[0, count - 1], JsonValueGen, (which, value) =>
        {
            var root = JsonNode.Parse(json)!;
            var (parent, key, index) = Paths(root)[which];
            if (parent is JsonObject o)
            {
                o[key!] = value.Node?.DeepClone();
            }
            else
            {
                ((JsonArray)parent)[index] = value.Node?.DeepClone();
            }

            return FuzzBody.Of($"{key ?? index.ToString(System.Globalization.CultureInfo.InvariantCulture)} := {value.Kind}", root.ToJsonString());
        });
    }

    /// <summary>Bodies that are well-formed but hostile in size or depth, each around a field the endpoint reads.</summary>
    public static Gen<FuzzBody> HostileJson(string field) => Gen.Frequency(
        (2, Gen.Int[2, 4000].Select(depth =>
            FuzzBody.Of($"{field} nested {depth} arrays deep", $"{{\"{field}\":{new string('[', depth)}{new string(']', depth)}}}"))),
        (1, Gen.Int[2, 2000].Select(depth =>
            FuzzBody.Of($"nested {depth} objects deep", string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)))),
        (2, Gen.Int[1000, 1_200_000].Select(length =>
            FuzzBody.Of($"{field} of {length} characters", $"{{\"{field}\":\"{new string('k', length)}\"}}"))),
        (1, Gen.Int[1_048_577, 1_600_000].Select(length =>
            FuzzBody.Of($"oversized body of {length} bytes", $"{{\"{field}\":\"x\",\"pad\":\"{new string(' ', length)}\"}}"))),
        (2, JsonValueGen.Select(value => FuzzBody.Of($"{field} := {value.Kind}", new JsonObject { [field] = value.Node?.DeepClone() }.ToJsonString()))),
        (1, Gen.OneOf("", "null", "[]", "\"text\"", "0", "{", "{}", "{\"\":\"\"}", "\uFEFF{}", "{\"a\":1,\"a\":2}")
            .Select(text => FuzzBody.Of("bare value", text))));

    /// <summary>Plists built to hurt a reader: entity bombs, external entities, deep nesting, huge strings, wrong roots.</summary>
    public static Gen<FuzzBody> HostilePlist(string udid) => Gen.Frequency(
        (2, Gen.Int[2, 10].Select(levels => FuzzBody.Of($"billion laughs, {levels} levels", BillionLaughs(udid, levels)))),
        (1, Gen.OneOf("file:///etc/passwd", "http://127.0.0.1:9/x", "../../../../etc/hosts").Select(uri => FuzzBody.Of(
            $"external entity {uri}",
            $"<?xml version=\"1.0\"?><!DOCTYPE plist [<!ENTITY x SYSTEM \"{uri}\">]><plist><dict><key>UDID</key><string>{udid}</string><key>MessageType</key><string>&x;</string></dict></plist>"))),
        (2, Gen.Int[2, 3000].Select(depth => FuzzBody.Of($"dict nested {depth} deep", Plist(udid,
            string.Concat(Enumerable.Repeat("<dict><key>a</key>", depth)) + "<true/>" + string.Concat(Enumerable.Repeat("</dict>", depth)))))),
        (2, Gen.Int[1000, 3_000_000].Select(length => FuzzBody.Of($"string of {length} characters", Plist(udid, $"<string>{new string('s', length)}</string>")))),
        (2, Gen.OneOf(
                "<integer>99999999999999999999999</integer>", "<real>NaN</real>", "<date>not a date</date>", "<data>!!!</data>",
                "<true>yes</true>", "<array><key>k</key></array>", "<dict><string>no key</string></dict>", "<unknown/>", "")
            .Select(value => FuzzBody.Of($"MessageType := {value}", Plist(udid, value)))),
        (1, Gen.OneOf("bplist00\u00d1\u0001", "<plist><array/></plist>", "<plist/>", "<?xml version=\"1.0\"?>", "<html/>", "")
            .Select(text => FuzzBody.Of("wrong document", text))));

    /// <summary>A plist text with each <c>&lt;string&gt;</c> value in turn replaced by a value of another type.</summary>
    public static Gen<FuzzBody> PlistWrongTypes(string plist)
    {
        var starts = AllIndexesOf(plist, "<string>");

        return Gen.Select(Gen.Int[0, starts.Count - 1], Gen.OneOf(
            "<integer>-1</integer>", "<dict/>", "<array><array/></array>", "<data>AAAA</data>", "<false/>", "<string></string>",
            "<string>\u202e\u0000</string>", "<string>../../../../etc/passwd</string>"), (which, value) =>
        {
            var start = starts[which];
            var end = plist.IndexOf("</string>", start, StringComparison.Ordinal) + "</string>".Length;

            return FuzzBody.Of($"string #{which} := {value}", string.Concat(plist.AsSpan(0, start), value, plist.AsSpan(end)));
        });
    }

    /// <summary>
    /// An id mangled with traversal, escapes, unicode or length; the text goes into a URL path as it is. An escaped
    /// NUL is left out: ASP.NET Core's URL decoder refuses it before any endpoint runs (Kestrel answers 400; the
    /// in-memory test server throws in the client), so only query strings and bodies carry NUL to the Api.
    /// </summary>
    public static Gen<string> OddId(string valid) => OddText(valid).Where(id => !id.Contains("%00", StringComparison.OrdinalIgnoreCase));

    /// <summary>A value mangled with traversal, escapes, NUL, unicode or length, for query strings and headers.</summary>
    public static Gen<string> OddText(string valid) => Gen.Frequency(
        (3, Gen.Select(Gen.Int[0, valid.Length], s_hostileToken, (at, token) => valid.Insert(at, token))),
        (2, s_hostileToken.Array[1, 4].Select(tokens => string.Concat(tokens))),
        (1, Gen.Int[256, 20_000].Select(length => new string('a', length))),
        (1, Gen.Int[2, 200].Select(repeat => string.Concat(Enumerable.Repeat("%2e%2e%2f", repeat)) + valid)),
        (1, Gen.String[0, 64].Select(Uri.EscapeDataString)),
        (1, Gen.OneOf(valid.ToLowerInvariant(), valid.ToUpperInvariant(), " " + valid, valid + "%20", "{" + valid + "}")));

    /// <summary>A query value: odd ids, numbers out of range, malformed dates, unicode, repeated keys.</summary>
    public static Gen<string> OddQueryValue => Gen.Frequency(
        (3, s_hostileToken),
        (2, Gen.OneOf("-1", "0", "1", "501", "2147483648", "99999999999999999999", "1e3", "0x10", " 1", "3650", "3651", "NaN")),
        (2, Gen.OneOf("2026-13-45T25:61:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00 01:00", "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00-14:00", "yesterday")),
        (1, Gen.Int[129, 5000].Select(length => new string('v', length))),
        (2, Gen.String[0, 40].Select(Uri.EscapeDataString)),
        (1, Gen.OneOf("pending", "failed", "none", "verified", "verifying", "linux", "darwin", "PENDING")));

    private static readonly Gen<(string Kind, JsonNode? Node)> JsonValueGen = Gen.Frequency(
        (1, Gen.OneOf<(string, JsonNode?)>(
            ("null", null), ("true", JsonValue.Create(true)), ("0", JsonValue.Create(0)), ("-1", JsonValue.Create(-1)),
            ("1e308", JsonValue.Create(1e308)), ("long", JsonValue.Create(long.MaxValue)), ("empty string", JsonValue.Create("")),
            ("empty array", new JsonArray()), ("empty object", new JsonObject()), ("lone surrogate", JsonValue.Create("\ud800")),
            ("NUL", JsonValue.Create("\0")), ("RTL override", JsonValue.Create("\u202e..\\..\\")))),
        (1, Gen.Int[256, 300_000].Select(length => ($"string of {length}", (JsonNode?)JsonValue.Create(new string('x', length))))),
        (1, Gen.String[0, 80].Select(text => ("random text", (JsonNode?)JsonValue.Create(text)))),
        (1, Gen.Int[2, 40].Select(depth => ($"array {depth} deep", (JsonNode?)Nested(depth)))));

    private static JsonNode Nested(int depth)
    {
        JsonNode node = new JsonArray();
        for (var i = 1; i < depth; i++)
        {
            node = new JsonArray(node);
        }

        return node;
    }

    /// <summary>Every value slot in the document: its parent and its key (objects) or index (arrays).</summary>
    private static List<(JsonNode Parent, string? Key, int Index)> Paths(JsonNode root)
    {
        var slots = new List<(JsonNode, string?, int)>();
        Walk(root);

        return slots;

        void Walk(JsonNode? node)
        {
            if (node is JsonObject o)
            {
                foreach (var (key, child) in o.ToList())
                {
                    slots.Add((o, key, -1));
                    Walk(child);
                }
            }
            else if (node is JsonArray a)
            {
                for (var i = 0; i < a.Count; i++)
                {
                    slots.Add((a, null, i));
                    Walk(a[i]);
                }
            }
        }
    }

    private static string BillionLaughs(string udid, int levels)
    {
        var entities = new StringBuilder("<!ENTITY l0 \"lol\">");
        for (var i = 1; i <= levels; i++)
        {
            entities.Append(System.Globalization.CultureInfo.InvariantCulture, $"<!ENTITY l{i} \"{string.Concat(Enumerable.Repeat($"&l{i - 1};", 10))}\">");
        }

        return $"<?xml version=\"1.0\"?><!DOCTYPE plist [{entities}]><plist version=\"1.0\"><dict><key>UDID</key><string>{udid}</string>" +
            $"<key>MessageType</key><string>&l{levels};</string></dict></plist>";
    }

    private static string Plist(string udid, string messageType) =>
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>UDID</key><string>" + udid +
        "</string><key>MessageType</key>" + messageType + "</dict></plist>";

    private static List<int> AllIndexesOf(string text, string value)
    {
        var found = new List<int>();
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + 1, StringComparison.Ordinal))
        {
            found.Add(at);
        }

        return found;
    }

    private static byte[] Replace(byte[] bytes, int at, byte value)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] = value;

        return copy;
    }

    private static byte[] Insert(byte[] bytes, int at, byte[] inserted) => [.. bytes[..at], .. inserted, .. bytes[at..]];

    private static byte[] Cut(byte[] bytes, int at, int length) => [.. bytes[..at], .. bytes[Math.Min(bytes.Length, at + length)..]];
}
