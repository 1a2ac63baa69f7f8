using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// Apple XML property lists as a device writes and reads them, built with System.Xml.Linq so that the tests
/// do not lean on the server's own plist code.
/// </summary>
public static class DevicePlist
{
    private static readonly XmlReaderSettings s_readerSettings = new()
    {
        DtdProcessing = DtdProcessing.Ignore,
        XmlResolver = null,
    };

    /// <summary>A <c>&lt;plist&gt;</c> document around <paramref name="root"/>, with Apple's DOCTYPE.</summary>
    public static string Document(XElement root)
    {
        var document = new XDocument(
            new XDocumentType("plist", "-//Apple//DTD PLIST 1.0//EN", "http://www.apple.com/DTDs/PropertyList-1.0.dtd", null),
            new XElement("plist", new XAttribute("version", "1.0"), root));

        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + document.ToString(SaveOptions.DisableFormatting);
    }

    /// <summary>A <c>&lt;dict&gt;</c> of the entries whose value is not null, in the order given.</summary>
    public static XElement Dict(params (string Key, XElement? Value)[] entries) =>
        new("dict", entries
            .Where(e => e.Value is not null)
            .SelectMany(e => new object[] { new XElement("key", e.Key), e.Value! }));

    public static XElement StringValue(string value) => new("string", value);

    public static XElement? StringValueOrNull(string? value) => value is null ? null : StringValue(value);

    public static XElement IntegerValue(long value) => new("integer", value.ToString(CultureInfo.InvariantCulture));

    public static XElement Data(byte[] value) => new("data", Convert.ToBase64String(value));

    public static XElement Date(DateTimeOffset value) =>
        new("date", value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));

    public static XElement Array(IEnumerable<XElement> items) => new("array", items);

    /// <summary>The root <c>&lt;dict&gt;</c> of a plist document, as key → value element.</summary>
    public static IReadOnlyDictionary<string, XElement> ReadDict(byte[] body)
    {
        using var reader = XmlReader.Create(new MemoryStream(body), s_readerSettings);
        var root = XDocument.Load(reader).Root;
        Assert.True(root?.Name == "plist", $"expected a plist, got '{Encoding.UTF8.GetString(body)}'");

        return Entries(root!.Elements().Single());
    }

    /// <summary>The entries of a <c>&lt;dict&gt;</c> element: each <c>&lt;key&gt;</c> and the element after it.</summary>
    public static IReadOnlyDictionary<string, XElement> Entries(XElement dict)
    {
        Assert.Equal("dict", dict.Name.LocalName);
        var children = dict.Elements().ToList();
        var entries = new Dictionary<string, XElement>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < children.Count; i += 2)
        {
            entries[children[i].Value] = children[i + 1];
        }

        return entries;
    }

    public static string? Text(IReadOnlyDictionary<string, XElement> dict, string key) =>
        dict.TryGetValue(key, out var value) ? value.Value : null;
}
