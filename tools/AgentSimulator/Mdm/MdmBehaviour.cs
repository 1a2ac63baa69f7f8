using System.Globalization;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>How a simulated Mac answers MDM, if not like a healthy one.</summary>
public enum MdmBehaviourKind
{
    /// <summary>Wakes on every push and acknowledges every command it can run.</summary>
    Normal,

    /// <summary>Answers <c>NotNow</c> to every command in its first sessions (Power Nap, a locked keychain), then behaves.</summary>
    NotNow,

    /// <summary>Installs profiles, but the <c>Acknowledged</c> report of every <c>InstallProfile</c> is lost on the way.</summary>
    LoseAck,

    /// <summary>Enrolls, then sleeps: it ignores pushes and never polls.</summary>
    Asleep,

    /// <summary>Answers every <c>InstallProfile</c> with <c>Error</c> and an error chain like macOS's.</summary>
    MdmError,
}

/// <summary>The MDM behaviour a simulated Mac plays, with its parameter.</summary>
/// <param name="Kind">What the Mac does.</param>
/// <param name="NotNowSessions">For <see cref="MdmBehaviourKind.NotNow"/>: how many sessions it answers NotNow in.</param>
public sealed record MdmBehaviour(MdmBehaviourKind Kind, int NotNowSessions)
{
    public static MdmBehaviour Normal { get; } = new(MdmBehaviourKind.Normal, 0);

    public static MdmBehaviour LoseAck { get; } = new(MdmBehaviourKind.LoseAck, 0);

    public static MdmBehaviour Asleep { get; } = new(MdmBehaviourKind.Asleep, 0);

    public static MdmBehaviour MdmError { get; } = new(MdmBehaviourKind.MdmError, 0);

    public static MdmBehaviour NotNow(int sessions) => new(MdmBehaviourKind.NotNow, sessions);

    /// <summary>Reads <c>notnow:HOSTS:SESSIONS</c>, <c>lose-ack:HOSTS</c>, <c>asleep:HOSTS</c> or <c>mdm-error:HOSTS</c>.</summary>
    public static bool TryParse(string text, out (MdmBehaviour Behaviour, int Count) behaviour)
    {
        behaviour = default;
        var parts = text.Split(':');
        if (parts.Length < 2 || !TryParseCount(parts[1], out var count) || count == 0)
        {
            return false;
        }

        var sessions = 0;
        MdmBehaviour? parsed = (parts[0], parts.Length) switch
        {
            ("notnow", 3) when TryParseCount(parts[2], out sessions) && sessions > 0 => NotNow(sessions),
            ("lose-ack", 2) => LoseAck,
            ("asleep", 2) => Asleep,
            ("mdm-error", 2) => MdmError,
            _ => null,
        };
        behaviour = parsed is null ? default : (parsed, count);

        return parsed is not null;
    }

    /// <summary>The command-line spelling without the host count, e.g. <c>notnow:3</c>; <c>-</c> for a normal Mac.</summary>
    public override string ToString() => Kind switch
    {
        MdmBehaviourKind.Normal => "-",
        MdmBehaviourKind.NotNow => string.Create(CultureInfo.InvariantCulture, $"notnow:{NotNowSessions}"),
        MdmBehaviourKind.LoseAck => "lose-ack",
        MdmBehaviourKind.Asleep => "asleep",
        MdmBehaviourKind.MdmError => "mdm-error",
        _ => Kind.ToString(),
    };

    private static bool TryParseCount(string text, out int count) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out count);
}
