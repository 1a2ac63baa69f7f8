namespace Fleet.Api.Mdm.Plist;

/// <summary>
/// One value of an Apple property list. Immutable; a <see cref="PlistDict"/> keeps its keys in document
/// order so that writing what was read gives the same document.
/// </summary>
public abstract record PlistValue
{
    /// <summary>The element name of this kind of value, for error messages.</summary>
    public abstract string Kind { get; }
}

public sealed record PlistString(string Value) : PlistValue
{
    public override string Kind => "string";
}

public sealed record PlistInteger(long Value) : PlistValue
{
    public override string Kind => "integer";
}

public sealed record PlistReal(double Value) : PlistValue
{
    public override string Kind => "real";
}

public sealed record PlistBool(bool Value) : PlistValue
{
    public override string Kind => Value ? "true" : "false";
}

/// <summary>A date, always UTC (plists carry whole seconds with a <c>Z</c>).</summary>
public sealed record PlistDate(DateTimeOffset Value) : PlistValue
{
    public override string Kind => "date";
}

/// <summary>Bytes (base64 on the wire). The array is never handed out for writing.</summary>
public sealed record PlistData(ReadOnlyMemory<byte> Value) : PlistValue
{
    public override string Kind => "data";

    /// <summary>The bytes as lower-case hex, the form push tokens take everywhere else.</summary>
    public string ToHex() => Convert.ToHexStringLower(Value.Span);
}

public sealed record PlistArray(IReadOnlyList<PlistValue> Items) : PlistValue
{
    public override string Kind => "array";
}

/// <summary>A dictionary with unique string keys, in document order.</summary>
public sealed record PlistDict(IReadOnlyList<KeyValuePair<string, PlistValue>> Entries) : PlistValue
{
    public override string Kind => "dict";

    public PlistValue? this[string key]
    {
        get
        {
            foreach (var entry in Entries)
            {
                if (string.Equals(entry.Key, key, StringComparison.Ordinal))
                {
                    return entry.Value;
                }
            }

            return null;
        }
    }

    /// <summary>The string under <paramref name="key"/>; null when absent or of another kind.</summary>
    public string? GetString(string key) => this[key] is PlistString s ? s.Value : null;

    public long? GetInteger(string key) => this[key] is PlistInteger i ? i.Value : null;

    public DateTimeOffset? GetDate(string key) => this[key] is PlistDate d ? d.Value : null;

    public PlistData? GetData(string key) => this[key] as PlistData;

    public PlistDict? GetDict(string key) => this[key] as PlistDict;

    public PlistArray? GetArray(string key) => this[key] as PlistArray;
}

/// <summary>What kind of problem made a body unreadable.</summary>
public enum PlistError
{
    /// <summary>Larger than the limit; refused before parsing.</summary>
    TooLarge,

    /// <summary>A binary property list (<c>bplist00</c>); only XML is accepted.</summary>
    Binary,

    /// <summary>Not valid UTF-8.</summary>
    Encoding,

    /// <summary>Not well-formed XML, or it refers to an entity that is not one of XML's five.</summary>
    Xml,

    /// <summary>Well-formed XML that is not a property list.</summary>
    NotPlist,

    /// <summary>Containers nested deeper than the limit.</summary>
    TooDeep,

    /// <summary>A value that does not parse as its kind (an integer, a date, base64).</summary>
    Value,

    /// <summary>A document type other than Apple's plain plist one: declarations, or another DTD.</summary>
    Dtd,
}

/// <summary>A body that is not an acceptable property list; the message says where and why.</summary>
public sealed class PlistFormatException : Exception
{
    public PlistFormatException(PlistError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    public PlistFormatException()
    {
    }

    public PlistFormatException(string message)
        : base(message)
    {
    }

    public PlistFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PlistError Error { get; } = PlistError.Xml;
}
