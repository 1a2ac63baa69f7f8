using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Fleet.Api.Diagnostics;
using Fleet.Api.Hosting;
using Microsoft.Extensions.Options;
using Fleet.Contracts;

namespace Fleet.Api.Agents;

/// <summary>
/// The check-in leases this Api process holds (see <see cref="CheckInLease"/>): per host, the hash of the node
/// key the lease was granted for and when it ends by this process's clock. A <c>distributed/read</c> that
/// presents that key before then is answered "nothing owed" here, with no grain call. A host revokes its lease
/// before it owes anything, and a revocation that arrives before the grant it ends leaves a mark that refuses
/// the grant. Losing a gateway drops every lease, and refuses the grants asked for before, since the hosts
/// behind it may have lost theirs. Lapsed entries are swept once a minute.
/// </summary>
internal sealed partial class CheckInLeases(
    IServiceProvider services,
    IOptions<ClusterClientOptions> cluster,
    TimeProvider time,
    ApiMetrics metrics,
    ILogger<CheckInLeases> logger) : BackgroundService, ICheckInLeaseHolder, IClusterConnectionStatusObserver
{
    // How long a revocation's mark refuses a grant that arrives after it, at least: twice as long as the client
    // waits for any answer (Fleet:Cluster:ResponseTimeout) would do, since the answer carrying the grant is too late by then.
    private static readonly TimeSpan s_minMarkLife = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan s_sweepPeriod = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly Lock _referenceLock = new();
    private ICheckInLeaseHolder? _reference;
    private long _answered;

    // When every lease was last dropped: a grant asked for before then is refused when it arrives.
    private long _droppedAt = long.MinValue;

    /// <summary>This process as the holder named to hosts. Created on first use: Orleans resolves this class while the client starts.</summary>
    public ICheckInLeaseHolder Reference
    {
        get
        {
            if (Volatile.Read(ref _reference) is { } reference)
            {
                return reference;
            }

            lock (_referenceLock)
            {
                return _reference ??= services.GetRequiredService<IGrainFactory>().CreateObjectReference<ICheckInLeaseHolder>(this);
            }
        }
    }

    /// <summary>Leases (and revocation marks) held now.</summary>
    public int Count => _leases.Count;

    /// <summary>Check-ins answered under a lease since the process started.</summary>
    public long Answered => Interlocked.Read(ref _answered);

    /// <summary>The time to pass to <see cref="Hold"/>, taken before asking the host.</summary>
    public long Now() => time.GetTimestamp();

    /// <summary>True (and counted) when this process may answer the check-in "nothing owed" without asking the host.</summary>
    public bool Covers(string hostId, string secret)
    {
        if (!_leases.TryGetValue(hostId, out var lease) || lease.SecretHash is not { } expected)
        {
            return false;
        }

        if (time.GetTimestamp() >= lease.EndsAt)
        {
            _leases.TryRemove(KeyValuePair.Create(hostId, lease));
            return false;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        Hash(secret, hash);
        if (!CryptographicOperations.FixedTimeEquals(hash, expected))
        {
            return false;
        }

        Interlocked.Increment(ref _answered);
        metrics.LeaseAnswer();

        return true;
    }

    /// <summary>Keeps a lease the host granted in answer to a read asked at <paramref name="askedAt"/>.</summary>
    public void Hold(string hostId, string secret, CheckInLease granted, long askedAt)
    {
        if (askedAt <= Interlocked.Read(ref _droppedAt))
        {
            return;
        }

        var hash = new byte[SHA256.HashSizeInBytes];
        Hash(secret, hash);
        var lease = new Lease(hash, granted.Grant, askedAt + ToTimestamp(granted.Duration));

        // A later grant wins; a revocation of this grant or a later one refuses it, until it lapses.
        var now = time.GetTimestamp();
        _leases.AddOrUpdate(hostId, lease, (_, held) => held.Grant >= lease.Grant && now < held.EndsAt ? held : lease);
    }

    Task ICheckInLeaseHolder.RevokeAsync(string hostId, long grant)
    {
        var markLife = cluster.Value.ResponseTimeout * 2 > s_minMarkLife ? cluster.Value.ResponseTimeout * 2 : s_minMarkLife;
        var mark = new Lease(null, grant, time.GetTimestamp() + ToTimestamp(markLife));
        _leases.AddOrUpdate(hostId, mark, (_, held) => held.Grant > grant && held.SecretHash is null ? held : mark);
        metrics.LeaseRevoked();

        return Task.CompletedTask;
    }

    void IClusterConnectionStatusObserver.NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        if (currentNumberOfGateways < previousNumberOfGateways)
        {
            DropAll($"gateways went from {previousNumberOfGateways} to {currentNumberOfGateways}");
        }
    }

    void IClusterConnectionStatusObserver.NotifyClusterConnectionLost() => DropAll("the connection to the cluster was lost");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(s_sweepPeriod, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = time.GetTimestamp();
                RemoveWhere(lease => now >= lease.EndsAt);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (Volatile.Read(ref _reference) is { } reference)
            {
                services.GetRequiredService<IGrainFactory>().DeleteObjectReference<ICheckInLeaseHolder>(reference);
            }
        }
    }

    // Revocation marks stay: a grant they refuse may still be on its way.
    private void DropAll(string why)
    {
        Interlocked.Exchange(ref _droppedAt, time.GetTimestamp());
        LogDroppedAll(RemoveWhere(lease => lease.SecretHash is not null), why);
    }

    private long ToTimestamp(TimeSpan duration) => (long)(duration.TotalSeconds * time.TimestampFrequency);

    // On the stack: a parsed node key is at most NodeKeys.MaxLength characters.
    private static void Hash(string secret, Span<byte> hash)
    {
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(NodeKeys.MaxLength)];
        SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(secret, utf8)], hash);
    }

    // Removes the entries still as they were when seen, so one replaced meanwhile stays.
    private int RemoveWhere(Func<Lease, bool> drop)
    {
        var removed = 0;
        foreach (var (hostId, lease) in _leases)
        {
            if (drop(lease) && _leases.TryRemove(KeyValuePair.Create(hostId, lease)))
            {
                removed++;
            }
        }

        return removed;
    }

    // SecretHash null: a revocation's mark, which answers nothing and refuses grants up to its own.
    private sealed record Lease(byte[]? SecretHash, long Grant, long EndsAt);

    [LoggerMessage(EventId = 404, Level = LogLevel.Information, Message = "Dropped {Count} check-in leases: {Why}")]
    private partial void LogDroppedAll(int count, string why);
}
