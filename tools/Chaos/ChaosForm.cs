namespace Fleet.Chaos;

/// <summary>
/// How big and how long a chaos run is: the full form for the record in docs/reliability.md, the short
/// form for CI. Every duration here is wall-clock time on the machine running the suite.
/// </summary>
internal sealed record ChaosForm(
    string Name,
    int MacOS14,
    int MacOS15,
    int Ubuntu,
    int Silent,
    int SkewedHosts,
    TimeSpan AgentInterval,
    TimeSpan LoadBefore,
    TimeSpan LoadAfter,
    TimeSpan SiloDown,
    TimeSpan StorageDown,
    int RefetchesPerSecond,
    int JobHosts,
    RefetchSettings Refetch)
{
    /// <summary>How far ahead of the server's clock the skewed agents run.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    public static ChaosForm Full { get; } = new(
        "full", MacOS14: 600, MacOS15: 600, Ubuntu: 600, Silent: 100, SkewedHosts: 200,
        AgentInterval: TimeSpan.FromSeconds(10), LoadBefore: TimeSpan.FromSeconds(20), LoadAfter: TimeSpan.FromSeconds(30),
        SiloDown: TimeSpan.FromSeconds(15), StorageDown: TimeSpan.FromSeconds(30), RefetchesPerSecond: 8, JobHosts: 500,
        new RefetchSettings(
            Pickup: TimeSpan.FromSeconds(30), Results: TimeSpan.FromSeconds(30), MaxAttempts: 2,
            RetryBackoff: TimeSpan.FromSeconds(10), ReminderPeriod: TimeSpan.FromSeconds(10)));

    public static ChaosForm Short { get; } = new(
        "short", MacOS14: 100, MacOS15: 100, Ubuntu: 100, Silent: 20, SkewedHosts: 30,
        AgentInterval: TimeSpan.FromSeconds(5), LoadBefore: TimeSpan.FromSeconds(5), LoadAfter: TimeSpan.FromSeconds(10),
        SiloDown: TimeSpan.FromSeconds(8), StorageDown: TimeSpan.FromSeconds(10), RefetchesPerSecond: 4, JobHosts: 100,
        new RefetchSettings(
            Pickup: TimeSpan.FromSeconds(8), Results: TimeSpan.FromSeconds(8), MaxAttempts: 2,
            RetryBackoff: TimeSpan.FromSeconds(2), ReminderPeriod: TimeSpan.FromSeconds(5)));

    public int Hosts => MacOS14 + MacOS15 + Ubuntu;

    /// <summary>
    /// The slack allowed past a refetch's last possible deadline: one reminder period (a host whose silo died is
    /// woken by its reminder), the longest storage outage (a deadline that expires while storage is down is
    /// recorded when it returns) and 15 s for a grain to activate and write on a loaded machine.
    /// </summary>
    public TimeSpan Slack => Refetch.ReminderPeriod + StorageDown + TimeSpan.FromSeconds(15);
}

/// <summary>The refetch policy every platform gets in a chaos run, short so that deadlines fall inside a phase.</summary>
internal sealed record RefetchSettings(
    TimeSpan Pickup, TimeSpan Results, int MaxAttempts, TimeSpan RetryBackoff, TimeSpan ReminderPeriod)
{
    /// <summary>
    /// The longest a refetch can stay in flight: every attempt's pickup and results timeouts, and the backoff added
    /// to each retry (doubling from <see cref="RetryBackoff"/>).
    /// </summary>
    public TimeSpan Budget
    {
        get
        {
            var total = TimeSpan.Zero;
            for (var attempt = 1; attempt <= MaxAttempts; attempt++)
            {
                total += Pickup + Results + (attempt == 1 ? TimeSpan.Zero : RetryBackoff * Math.Pow(2, attempt - 2));
            }

            return total;
        }
    }
}
