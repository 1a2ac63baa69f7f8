namespace Fleet.Grains;

/// <summary>Arithmetic on optional wake-up times, where null means "nothing waits".</summary>
internal static class WakeTimes
{
    /// <summary>The earlier of two wake-ups; null only when neither is set.</summary>
    public static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null ? a : Earliest(a.Value, b.Value);

    /// <summary>The earlier of two wake-ups.</summary>
    public static DateTimeOffset Earliest(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
