using System.Globalization;
using System.Text;
using System.Xml;

namespace Fleet.Api.Mdm.Plist;

/// <summary>Writes property lists as Apple does: UTF-8 XML with the standard DOCTYPE, tab-indented.</summary>
public static class PlistWriter
{
    public const string PublicId = "-//Apple//DTD PLIST 1.0//EN";
    public const string SystemId = "http://www.apple.com/DTDs/PropertyList-1.0.dtd";

    private static readonly XmlWriterSettings s_settings = new()
    {
        Encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
        Indent = true,
        IndentChars = "\t",
        NewLineChars = "\n",
        CheckCharacters = true,
        OmitXmlDeclaration = true,
    };

    public static byte[] Write(PlistValue root)
    {
        using var buffer = new MemoryStream();

        // Written by hand because XmlWriter spells the encoding "utf-8"; Apple writes "UTF-8".
        buffer.Write("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"u8);
        using (var writer = XmlWriter.Create(buffer, s_settings))
        {
            writer.WriteDocType("plist", PublicId, SystemId, null);
            writer.WriteStartElement("plist");
            writer.WriteAttributeString("version", "1.0");
            WriteValue(writer, root);
            writer.WriteEndElement();
        }

        return buffer.ToArray();
    }

    private static void WriteValue(XmlWriter writer, PlistValue value)
    {
        switch (value)
        {
            case PlistDict dict:
                writer.WriteStartElement("dict");
                foreach (var (key, item) in dict.Entries)
                {
                    writer.WriteElementString("key", key);
                    WriteValue(writer, item);
                }

                writer.WriteFullEndElement();
                break;
            case PlistArray array:
                writer.WriteStartElement("array");
                foreach (var item in array.Items)
                {
                    WriteValue(writer, item);
                }

                writer.WriteFullEndElement();
                break;
            case PlistBool flag:
                writer.WriteStartElement(flag.Kind);
                writer.WriteEndElement();
                break;
            case PlistString text:
                writer.WriteElementString("string", text.Value);
                break;
            case PlistInteger integer:
                writer.WriteElementString("integer", integer.Value.ToString(CultureInfo.InvariantCulture));
                break;
            case PlistReal real:
                writer.WriteElementString("real", real.Value.ToString("R", CultureInfo.InvariantCulture));
                break;
            case PlistDate date:
                writer.WriteElementString("date", date.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
                break;
            case PlistData data:
                writer.WriteElementString("data", Convert.ToBase64String(data.Value.Span));
                break;
            default:
                throw new ArgumentException($"Unknown property-list value {value.GetType().Name}.", nameof(value));
        }
    }
}
