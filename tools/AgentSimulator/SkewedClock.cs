namespace Fleet.AgentSimulator;

/// <summary>
/// An agent's clock that is off by a fixed amount from the machine's: what it stamps (profile install dates,
/// identity validity) is skewed against the server's time; timers still run at the normal pace.
/// </summary>
public sealed class SkewedClock(TimeProvider inner, TimeSpan skew) : TimeProvider
{
    public TimeSpan Skew => skew;

    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow() + skew;

    public override long GetTimestamp() => inner.GetTimestamp();

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;
}
