using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>
/// Apple XML property lists as plain .NET values: <c>dict</c> is <see cref="Dictionary{TKey,TValue}"/> of string
/// to object, <c>array</c> a <see cref="List{T}"/> of object, <c>string</c>, <c>integer</c> (long), <c>true</c>/
/// <c>false</c>, <c>data</c> (byte[]) and <c>date</c> (<see cref="DateTimeOffset"/>). Enough for what a Mac sends
/// and receives over MDM; reading refuses DTDs' entities, external resources, deep nesting and large documents.
/// </summary>
public static class Plist
{
    public const int MaxDepth = 32;

    public const int MaxCharacters = 1 << 20;

    private const string DocType = "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" " +
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">";

    /// <summary>Writes <paramref name="root"/> as an XML plist with Apple's header, tabs and a final newline.</summary>
    public static string Write(Dictionary<string, object> root)
    {
        var text = new StringBuilder()
            .Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .Append(DocType).Append('\n')
            .Append("<plist version=\"1.0\">\n");
        WriteValue(text, root, 0);

        return text.Append("</plist>\n").ToString();
    }

    /// <summary>Reads an XML plist whose root is a <c>dict</c>.</summary>
    /// <exception cref="FormatException">The text is not such a plist, or is too large or too deep.</exception>
    public static Dictionary<string, object> Read(string text)
    {
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Ignore,
            XmlResolver = null,
            MaxCharactersInDocument = MaxCharacters,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
        };
        try
        {
            using var reader = XmlReader.Create(new StringReader(text), settings);
            var plist = XDocument.Load(reader).Root;
            var root = plist?.Name.LocalName == "plist" ? plist.Elements().SingleOrDefault() : null;

            return root is null ? throw new FormatException("not a plist with one root value")
                : ReadValue(root, 0) as Dictionary<string, object> ?? throw new FormatException("the plist's root is not a dict");
        }
        catch (XmlException exception)
        {
            throw new FormatException($"not well-formed XML: {exception.Message}", exception);
        }
    }

    private static object ReadValue(XElement element, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new FormatException($"nested deeper than {MaxDepth}");
        }

        return element.Name.LocalName switch
        {
            "dict" => ReadDict(element, depth),
            "array" => element.Elements().Select(item => ReadValue(item, depth + 1)).ToList(),
            "string" => element.Value,
            "integer" => long.Parse(element.Value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
            "real" => double.Parse(element.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture),
            "true" => true,
            "false" => false,
            "data" => Convert.FromBase64String(element.Value),
            "date" => DateTimeOffset.Parse(element.Value.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            var other => throw new FormatException($"unknown plist element <{other}>"),
        };
    }

    private static Dictionary<string, object> ReadDict(XElement element, int depth)
    {
        var dict = new Dictionary<string, object>(StringComparer.Ordinal);
        var children = element.Elements().ToList();
        if (children.Count % 2 != 0)
        {
            throw new FormatException("a dict has a key without a value");
        }

        for (var i = 0; i < children.Count; i += 2)
        {
            if (children[i].Name.LocalName != "key")
            {
                throw new FormatException($"a dict has <{children[i].Name.LocalName}> where a key belongs");
            }

            dict[children[i].Value] = ReadValue(children[i + 1], depth + 1);
        }

        return dict;
    }

    private static void WriteValue(StringBuilder text, object value, int depth)
    {
        var indent = new string('\t', depth);
        switch (value)
        {
            case Dictionary<string, object> dict:
                text.Append(indent).Append("<dict>\n");
                foreach (var (key, item) in dict)
                {
                    text.Append(indent).Append("\t<key>").Append(Escape(key)).Append("</key>\n");
                    WriteValue(text, item, depth + 1);
                }

                text.Append(indent).Append("</dict>\n");
                break;
            case IEnumerable<object> items:
                text.Append(indent).Append("<array>\n");
                foreach (var item in items)
                {
                    WriteValue(text, item, depth + 1);
                }

                text.Append(indent).Append("</array>\n");
                break;
            case bool flag:
                text.Append(indent).Append(flag ? "<true/>\n" : "<false/>\n");
                break;
            default:
                text.Append(indent).Append(Scalar(value)).Append('\n');
                break;
        }
    }

    private static string Scalar(object value) => value switch
    {
        string text => $"<string>{Escape(text)}</string>",
        long or int => string.Create(CultureInfo.InvariantCulture, $"<integer>{value}</integer>"),
        byte[] data => $"<data>{Convert.ToBase64String(data)}</data>",
        DateTimeOffset date => string.Create(CultureInfo.InvariantCulture, $"<date>{date.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}</date>"),
        _ => throw new ArgumentException($"no plist form for {value.GetType().Name}", nameof(value)),
    };

    private static string Escape(string text) => new XText(text).ToString();
}
