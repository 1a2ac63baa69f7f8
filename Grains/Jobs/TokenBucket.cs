namespace Fleet.Grains.Jobs;

/// <summary>
/// A token bucket on an injected clock: <see cref="Rate"/> tokens a second accrue up to <see cref="Capacity"/>,
/// so any one-second window grants at most the rate plus the capacity. Immutable; each call returns the next bucket.
/// </summary>
public sealed record TokenBucket(double Rate, double Capacity, double Tokens, DateTimeOffset At)
{
    /// <summary>A full bucket: the first requests go out at once, up to the burst.</summary>
    public static TokenBucket Full(int ratePerSecond, DateTimeOffset now) =>
        new(ratePerSecond, BurstFor(ratePerSecond), BurstFor(ratePerSecond), now);

    /// <summary>A fifth of a second's worth, at least one: enough to ride out a late timer tick, small next to the rate.</summary>
    public static double BurstFor(int ratePerSecond) => Math.Max(1, ratePerSecond / 5.0);

    /// <summary>Up to <paramref name="wanted"/> whole tokens, as many as the bucket holds at <paramref name="now"/>.</summary>
    public (TokenBucket Next, int Granted) Take(DateTimeOffset now, int wanted)
    {
        var filled = Refill(now);
        var granted = (int)Math.Min(Math.Max(0, wanted), Math.Floor(filled.Tokens));

        return (filled with { Tokens = filled.Tokens - granted }, granted);
    }

    /// <summary>Puts back tokens taken but not used (another limiter said no).</summary>
    public TokenBucket Return(int unused) => this with { Tokens = Math.Min(Capacity, Tokens + Math.Max(0, unused)) };

    private TokenBucket Refill(DateTimeOffset now)
    {
        // A clock that steps back adds nothing rather than taking tokens away.
        var elapsed = Math.Max(0, (now - At).TotalSeconds);

        return this with { Tokens = Math.Min(Capacity, Tokens + (elapsed * Rate)), At = now > At ? now : At };
    }
}
