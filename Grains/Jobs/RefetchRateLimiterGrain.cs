using Fleet.Contracts;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Jobs;

/// <summary>
/// The cluster's cap on refetch requests: one token bucket at <see cref="RefetchJobOptions.ClusterRate"/>, shared
/// fairly by the jobs that asked within the last second. It keeps nothing in storage: a new activation starts
/// with a full bucket, which costs at most one burst.
/// </summary>
internal sealed class RefetchRateLimiterGrain(IOptionsMonitor<RefetchJobOptions> options, TimeProvider time)
    : Grain, IRefetchRateLimiterGrain
{
    private static readonly TimeSpan s_activeFor = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, DateTimeOffset> _askedAt = new(StringComparer.Ordinal);
    private TokenBucket? _bucket;

    Task<int> IRefetchRateLimiterGrain.AcquireAsync(string jobId, int wanted)
    {
        var now = time.GetUtcNow();
        var rate = options.CurrentValue.ClusterRate;
        if (_bucket is null || (int)_bucket.Rate != rate)
        {
            _bucket = TokenBucket.Full(rate, now);
        }

        _askedAt[jobId] = now;
        foreach (var idle in _askedAt.Where(p => now - p.Value > s_activeFor).Select(p => p.Key).ToList())
        {
            _askedAt.Remove(idle);
        }

        var (next, granted) = _bucket.Take(now, Math.Min(wanted, FairShare(_bucket.Capacity, _askedAt.Count)));
        _bucket = next;

        return Task.FromResult(granted);
    }

    /// <summary>One job's most from one ask: the burst split between the jobs asking, at least one request.</summary>
    internal static int FairShare(double capacity, int jobs) => Math.Max(1, (int)Math.Ceiling(capacity / Math.Max(1, jobs)));
}
