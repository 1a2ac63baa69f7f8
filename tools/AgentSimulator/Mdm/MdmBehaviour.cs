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

    /// <summary>Answers each identity renewal <c>NotNow</c> a number of times, then installs it and acknowledges.</summary>
    RenewalNotNow,

    /// <summary>Never answers an identity renewal: it sends no report for it, and its session ends there.</summary>
    RenewalIgnore,
}

/// <summary>The MDM behaviour a simulated Mac plays, with its parameter.</summary>
/// <param name="Kind">What the Mac does.</param>
/// <param name="NotNowCount">
/// For <see cref="MdmBehaviourKind.NotNow"/>: how many sessions it answers NotNow in; for
/// <see cref="MdmBehaviourKind.RenewalNotNow"/>: how many NotNow answers each renewal gets before it is acknowledged.
/// </param>
public sealed record MdmBehaviour(MdmBehaviourKind Kind, int NotNowCount)
{
    public static MdmBehaviour Normal { get; } = new(MdmBehaviourKind.Normal, 0);

    public static MdmBehaviour LoseAck { get; } = new(MdmBehaviourKind.LoseAck, 0);

    public static MdmBehaviour Asleep { get; } = new(MdmBehaviourKind.Asleep, 0);

    public static MdmBehaviour MdmError { get; } = new(MdmBehaviourKind.MdmError, 0);

    public static MdmBehaviour RenewalIgnore { get; } = new(MdmBehaviourKind.RenewalIgnore, 0);

    public static MdmBehaviour NotNow(int sessions) => new(MdmBehaviourKind.NotNow, sessions);

    public static MdmBehaviour RenewalNotNow(int times) => new(MdmBehaviourKind.RenewalNotNow, times);

    /// <summary>
    /// Reads <c>notnow:HOSTS:SESSIONS</c>, <c>lose-ack:HOSTS</c>, <c>asleep:HOSTS</c>, <c>mdm-error:HOSTS</c>,
    /// <c>renewal-notnow:HOSTS:TIMES</c> or <c>renewal-ignore:HOSTS</c>.
    /// </summary>
    public static bool TryParse(string text, out (MdmBehaviour Behaviour, int Count) behaviour)
    {
        behaviour = default;
        var parts = text.Split(':');
        if (parts.Length < 2 || !TryParseCount(parts[1], out var count) || count == 0)
        {
            return false;
        }

        var times = 0;
        MdmBehaviour? parsed = (parts[0], parts.Length) switch
        {
            ("notnow", 3) when TryParseCount(parts[2], out times) && times > 0 => NotNow(times),
            ("lose-ack", 2) => LoseAck,
            ("asleep", 2) => Asleep,
            ("mdm-error", 2) => MdmError,
            ("renewal-notnow", 3) when TryParseCount(parts[2], out times) && times > 0 => RenewalNotNow(times),
            ("renewal-ignore", 2) => RenewalIgnore,
            _ => null,
        };
        behaviour = parsed is null ? default : (parsed, count);

        return parsed is not null;
    }

    /// <summary>The command-line spelling without the host count, e.g. <c>notnow:3</c>; <c>-</c> for a normal Mac.</summary>
    public override string ToString() => Kind switch
    {
        MdmBehaviourKind.Normal => "-",
        MdmBehaviourKind.NotNow => string.Create(CultureInfo.InvariantCulture, $"notnow:{NotNowCount}"),
        MdmBehaviourKind.LoseAck => "lose-ack",
        MdmBehaviourKind.Asleep => "asleep",
        MdmBehaviourKind.MdmError => "mdm-error",
        MdmBehaviourKind.RenewalNotNow => string.Create(CultureInfo.InvariantCulture, $"renewal-notnow:{NotNowCount}"),
        MdmBehaviourKind.RenewalIgnore => "renewal-ignore",
        _ => Kind.ToString(),
    };

    private static bool TryParseCount(string text, out int count) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out count);
}
