using System.Globalization;

namespace Fleet.AgentSimulator;

/// <summary>How a simulated agent misbehaves, if at all.</summary>
public enum FaultKind
{
    /// <summary>Behaves like a healthy osquery agent.</summary>
    None,

    /// <summary>Enrolls, then never checks in again.</summary>
    Silent,

    /// <summary>Reads distributed queries but never writes results.</summary>
    NoWrite,

    /// <summary>Reads distributed queries and writes the results only after a delay.</summary>
    Late,

    /// <summary>Reports <c>fleet_detail_query_os_version</c> as failed (status 1) with an osquery error.</summary>
    Error,
}

/// <summary>The fault a simulated agent plays, with its parameter.</summary>
/// <param name="Kind">What the agent does wrong.</param>
/// <param name="WriteDelay">For <see cref="FaultKind.Late"/>: the wait between read and write.</param>
public sealed record FaultMode(FaultKind Kind, TimeSpan WriteDelay)
{
    public static FaultMode None { get; } = new(FaultKind.None, TimeSpan.Zero);

    public static FaultMode Silent { get; } = new(FaultKind.Silent, TimeSpan.Zero);

    public static FaultMode NoWrite { get; } = new(FaultKind.NoWrite, TimeSpan.Zero);

    public static FaultMode Error { get; } = new(FaultKind.Error, TimeSpan.Zero);

    public static FaultMode Late(TimeSpan writeDelay) => new(FaultKind.Late, writeDelay);

    /// <summary>The command-line spelling, e.g. <c>late:30s</c>; <c>-</c> for no fault.</summary>
    public override string ToString() => Kind switch
    {
        FaultKind.None => "-",
        FaultKind.Silent => "silent",
        FaultKind.NoWrite => "no-write",
        FaultKind.Late => string.Create(CultureInfo.InvariantCulture, $"late:{WriteDelay.TotalSeconds:0.###}s"),
        FaultKind.Error => "error",
        _ => Kind.ToString(),
    };
}
