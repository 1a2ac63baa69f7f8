namespace Fleet.AgentSimulator;

/// <summary>
/// Makes every agent drop its node key and enroll again at the same moment, as a fleet does when a network
/// outage ends or a bad agent update wipes every osquery database. Agents wait on <see cref="Token"/>; a
/// storm cancels it and hands out a fresh one for the next.
/// </summary>
public sealed class ReconnectStorm : IDisposable
{
    private CancellationTokenSource _current = new();
    private int _count;

    /// <summary>Cancelled when the next storm breaks.</summary>
    public CancellationToken Token => Volatile.Read(ref _current).Token;

    /// <summary>Storms so far.</summary>
    public int Count => Volatile.Read(ref _count);

    public void Trigger()
    {
        // The old source is left to the collector: agents may still be linking to its token.
        var broken = Interlocked.Exchange(ref _current, new CancellationTokenSource());
        Interlocked.Increment(ref _count);
        broken.Cancel();
    }

    public void Dispose() => Volatile.Read(ref _current).Dispose();
}
