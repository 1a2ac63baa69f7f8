using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;

namespace Fleet.Api.Mdm.Plist;

/// <summary>Bounds on what <see cref="PlistReader"/> accepts.</summary>
/// <param name="MaxBytes">Largest body; checked before any parsing.</param>
/// <param name="MaxDepth">Deepest nesting of dicts and arrays; real MDM messages stay under 8.</param>
public readonly record struct PlistLimits(int MaxBytes, int MaxDepth = PlistLimits.DefaultMaxDepth)
{
    public const int DefaultMaxDepth = 32;
}

/// <summary>
/// Reads Apple XML property lists, treating every body as hostile. Apple's bodies carry one DOCTYPE line, naming
/// Apple's plist DTD by its public id; that line is accepted and never fetched. Any other document type, and
/// any internal subset (where entities are declared), is refused before the XML is parsed. The parser is still
/// set to resolve and expand nothing. Size is checked before parsing, depth while parsing.
/// </summary>
public static partial class PlistReader
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly string[] s_dateFormats = ["yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'"];

    /// <summary>Parses <paramref name="body"/>, or throws <see cref="PlistFormatException"/> saying where and why.</summary>
    public static PlistValue Read(ReadOnlySpan<byte> body, PlistLimits limits)
    {
        if (body.Length > limits.MaxBytes)
        {
            throw new PlistFormatException(
                PlistError.TooLarge, $"The property list is {body.Length} bytes; at most {limits.MaxBytes} are accepted.");
        }

        if (body.StartsWith("bplist"u8))
        {
            throw new PlistFormatException(
                PlistError.Binary, "Binary property lists are not accepted; send the XML form.");
        }

        var text = Decode(body);
        RefuseDocumentType(text);
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Ignore,
            XmlResolver = null,
            MaxCharactersFromEntities = 1024,
            MaxCharactersInDocument = limits.MaxBytes,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
            IgnoreWhitespace = true,
        };

        using var reader = XmlReader.Create(new StringReader(text), settings);
        try
        {
            return ReadDocument(reader, limits.MaxDepth);
        }
        catch (XmlException exception)
        {
            throw new PlistFormatException(PlistError.Xml, $"The body is not well-formed XML: {exception.Message}", exception);
        }
    }

    // XML allows one DOCTYPE, before the root element; "<!DOCTYPE" elsewhere can only sit in a comment or CDATA,
    // which a device has no reason to send either, so the first occurrence anywhere is the one judged.
    private static void RefuseDocumentType(string text)
    {
        var start = text.IndexOf("<!DOCTYPE", StringComparison.Ordinal);
        if (start < 0)
        {
            return;
        }

        var end = text.IndexOf('>', start);
        var declaration = end < 0 ? text[start..] : text[start..(end + 1)];
        if (!AppleDocumentType().IsMatch(declaration))
        {
            throw new PlistFormatException(
                PlistError.Dtd,
                "The body declares a document type other than Apple's plist DTD, or declares entities; DTDs are refused.");
        }
    }

    [GeneratedRegex("""^<!DOCTYPE\s+plist\s+PUBLIC\s+"-//Apple(?: Computer)?//DTD PLIST 1\.0//EN"\s+"http://www\.apple\.com/DTDs/PropertyList-1\.0\.dtd"\s*>$""",
        RegexOptions.CultureInvariant)]
    private static partial Regex AppleDocumentType();

    private static string Decode(ReadOnlySpan<byte> body)
    {
        // Apple sends UTF-8; a byte-order mark is tolerated, any other encoding is not.
        var content = body.StartsWith("\uFEFF"u8) ? body[3..] : body;
        try
        {
            return s_strictUtf8.GetString(content);
        }
        catch (DecoderFallbackException exception)
        {
            throw new PlistFormatException(
                PlistError.Encoding, $"The body is not valid UTF-8 (at byte {exception.Index}).", exception);
        }
    }

    private static PlistValue ReadDocument(XmlReader reader, int maxDepth)
    {
        if (reader.MoveToContent() != XmlNodeType.Element || reader.LocalName != "plist")
        {
            throw Fail(PlistError.NotPlist, reader, $"the root element is <{reader.LocalName}>, not <plist>");
        }

        if (reader.IsEmptyElement)
        {
            throw Fail(PlistError.NotPlist, reader, "<plist> holds no value");
        }

        reader.Read();
        if (reader.NodeType != XmlNodeType.Element)
        {
            throw Fail(PlistError.NotPlist, reader, "<plist> holds no value");
        }

        var root = ReadValue(reader, depth: 0, maxDepth);
        if (reader.NodeType != XmlNodeType.EndElement)
        {
            throw Fail(PlistError.NotPlist, reader, "<plist> holds more than one value");
        }

        // Reading to the end makes the XML reader check that the rest of the document is well-formed.
        while (reader.Read())
        {
        }

        return root;
    }

    // Leaves the reader on the node after the value's end.
    private static PlistValue ReadValue(XmlReader reader, int depth, int maxDepth)
    {
        if (reader.NodeType != XmlNodeType.Element)
        {
            throw Fail(PlistError.NotPlist, reader, $"expected a value element, found {reader.NodeType}");
        }

        switch (reader.LocalName)
        {
            case "dict":
                return ReadDict(reader, Deeper(reader, depth, maxDepth), maxDepth);
            case "array":
                return ReadArray(reader, Deeper(reader, depth, maxDepth), maxDepth);
            case "true" or "false":
                var value = reader.LocalName == "true";
                reader.Skip();
                return new PlistBool(value);
            case "string":
                return new PlistString(reader.ReadElementContentAsString());
            case "integer":
                return ReadInteger(reader);
            case "real":
                return ReadReal(reader);
            case "date":
                return ReadDate(reader);
            case "data":
                return ReadData(reader);
            default:
                throw Fail(PlistError.NotPlist, reader, $"<{reader.LocalName}> is not a property-list value");
        }
    }

    private static int Deeper(XmlReader reader, int depth, int maxDepth) => depth < maxDepth
        ? depth + 1
        : throw Fail(PlistError.TooDeep, reader, $"dicts and arrays are nested deeper than {maxDepth}");

    private static PlistDict ReadDict(XmlReader reader, int depth, int maxDepth)
    {
        var entries = new List<KeyValuePair<string, PlistValue>>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        if (reader.IsEmptyElement)
        {
            reader.Read();
            return new PlistDict(entries);
        }

        reader.Read();
        while (reader.NodeType != XmlNodeType.EndElement)
        {
            if (reader.NodeType != XmlNodeType.Element || reader.LocalName != "key")
            {
                throw Fail(PlistError.NotPlist, reader, "a <dict> entry does not start with <key>");
            }

            var key = reader.ReadElementContentAsString();
            if (!keys.Add(key))
            {
                throw Fail(PlistError.NotPlist, reader, $"the key '{Shorten(key)}' appears twice in one <dict>");
            }

            if (reader.NodeType != XmlNodeType.Element)
            {
                throw Fail(PlistError.NotPlist, reader, $"the key '{Shorten(key)}' has no value");
            }

            entries.Add(new(key, ReadValue(reader, depth, maxDepth)));
        }

        reader.Read();

        return new PlistDict(entries);
    }

    private static PlistArray ReadArray(XmlReader reader, int depth, int maxDepth)
    {
        var items = new List<PlistValue>();
        if (reader.IsEmptyElement)
        {
            reader.Read();
            return new PlistArray(items);
        }

        reader.Read();
        while (reader.NodeType != XmlNodeType.EndElement)
        {
            items.Add(ReadValue(reader, depth, maxDepth));
        }

        reader.Read();

        return new PlistArray(items);
    }

    private static PlistInteger ReadInteger(XmlReader reader)
    {
        var (text, where) = Content(reader);

        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? new PlistInteger(value)
            : throw Fail(PlistError.Value, where, $"<integer> '{Shorten(text)}' is not a 64-bit integer");
    }

    private static PlistReal ReadReal(XmlReader reader)
    {
        var (text, where) = Content(reader);
        double? special = text.ToLowerInvariant() switch
        {
            "nan" => double.NaN,
            "inf" or "+inf" or "infinity" or "+infinity" => double.PositiveInfinity,
            "-inf" or "-infinity" => double.NegativeInfinity,
            _ => null,
        };
        if (special is { } named)
        {
            return new PlistReal(named);
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? new PlistReal(value)
            : throw Fail(PlistError.Value, where, $"<real> '{Shorten(text)}' is not a number");
    }

    private static PlistDate ReadDate(XmlReader reader)
    {
        var (text, where) = Content(reader);

        return DateTimeOffset.TryParseExact(
            text, s_dateFormats, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            ? new PlistDate(value)
            : throw Fail(PlistError.Value, where, $"<date> '{Shorten(text)}' is not an ISO 8601 UTC time");
    }

    private static PlistData ReadData(XmlReader reader)
    {
        var (text, where) = Content(reader);
        try
        {
            // Apple wraps base64 over lines and indents it; the decoder skips that whitespace.
            return new PlistData(Convert.FromBase64String(text));
        }
        catch (FormatException exception)
        {
            throw new PlistFormatException(PlistError.Value, $"Line {where.Line}, position {where.Position}: <data> is not base64.", exception);
        }
    }

    private static (string Text, (int Line, int Position) Where) Content(XmlReader reader)
    {
        var where = Where(reader);

        return (reader.ReadElementContentAsString().Trim(), where);
    }

    private static (int Line, int Position) Where(XmlReader reader) =>
        reader is IXmlLineInfo info && info.HasLineInfo() ? (info.LineNumber, info.LinePosition) : (0, 0);

    private static PlistFormatException Fail(PlistError error, XmlReader reader, string why) => Fail(error, Where(reader), why);

    private static PlistFormatException Fail(PlistError error, (int Line, int Position) where, string why) =>
        new(error, $"Line {where.Line}, position {where.Position}: {why}.");

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
