using System.Collections.Concurrent;
using Fleet.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Fleet.Grains.Index;

/// <summary>
/// Keeps the index whole when a silo dies. A shard that lived there comes back elsewhere from its rows, and
/// those lack what it had not saved yet (a flush interval's worth of publishes, more under a backlog); a
/// publish sent to it between the crash and the silo's declared death went nowhere. Neither would be mended
/// until each host changed again. So once membership declares another silo dead, every host active on this
/// silo sends its current entry again, in one batch per shard (<see cref="IHostIndexShardGrain.RestoreAsync"/>).
/// Hosts that were on the dead silo publish when they next activate, as always.
/// </summary>
/// <remarks>
/// Host grains add themselves when they activate and leave when they deactivate: a set of references is the
/// whole cost while nothing dies.
/// </remarks>
internal sealed partial class IndexRecovery(
    IClusterMembershipService membership,
    ILocalSiloDetails localSilo,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<IndexRecovery> logger) : BackgroundService
{
    // Hosts asked for their entry at once: local calls, enough to keep both cores busy without crowding out agents.
    private const int AskParallelism = 64;

    // Entries per restore call: a message of a few hundred KB, one shard turn of a few milliseconds.
    private const int RestoreBatch = 500;

    // A shard may be activating elsewhere, or its old address still cached, right after the death.
    private const int RestoreAttempts = 5;

    private static readonly TimeSpan s_retryPause = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private readonly HashSet<IAddressable> _hosts = new(ReferenceEqualityComparer.Instance);

    /// <summary>Called by a host grain at the end of its activation.</summary>
    public void Activated(IAddressable host)
    {
        lock (_lock)
        {
            _hosts.Add(host);
        }
    }

    /// <summary>Called by a host grain when it deactivates.</summary>
    public void Deactivated(IAddressable host)
    {
        lock (_lock)
        {
            _hosts.Remove(host);
        }
    }

    /// <summary>How many host activations this silo holds, as the recovery sees them.</summary>
    public int ActiveHosts
    {
        get
        {
            lock (_lock)
            {
                return _hosts.Count;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        ClusterMembershipSnapshot? previous = null;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var died = previous is null ? [] : Died(previous, snapshot);
                previous = snapshot;
                if (died.Count > 0)
                {
                    await RestoreAsync(died, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo is stopping.
        }
    }

    /// <summary>Other silos that were alive in <paramref name="previous"/> and are dead in <paramref name="current"/>.</summary>
    private List<SiloAddress> Died(ClusterMembershipSnapshot previous, ClusterMembershipSnapshot current) =>
        [.. current.CreateUpdate(previous).Changes
            .Where(member => member.Status == SiloStatus.Dead
                && !member.SiloAddress.Equals(localSilo.SiloAddress)
                && previous.Members.TryGetValue(member.SiloAddress, out var was)
                && was.Status != SiloStatus.Dead)
            .Select(member => member.SiloAddress)];

    private async Task RestoreAsync(List<SiloAddress> died, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        IAddressable[] hosts;
        lock (_lock)
        {
            hosts = [.. _hosts];
        }

        var entries = new ConcurrentBag<HostIndexEntry>();
        var unanswered = 0;
        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = AskParallelism, CancellationToken = cancellationToken },
            async (host, _) =>
            {
                try
                {
                    if (await host.AsReference<IHostGrain>().GetIndexEntryAsync() is { } entry)
                    {
                        entries.Add(entry);
                    }
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // A host deactivating at this moment publishes when it next activates.
                    Interlocked.Increment(ref unanswered);
                }
            });

        var (restored, unsent) = (0, 0);
        foreach (var shard in entries.GroupBy(entry => HostIndex.ShardOf(entry.HostId)))
        {
            foreach (var batch in shard.Chunk(RestoreBatch))
            {
                if (await SendAsync(shard.Key, batch, cancellationToken) is { } corrected)
                {
                    restored += corrected;
                }
                else
                {
                    unsent += batch.Length;
                }
            }
        }

        var took = (long)time.GetElapsedTime(started).TotalMilliseconds;
        var silos = string.Join(", ", died);
        if (unsent > 0)
        {
            LogRestoreIncomplete(silos, entries.Count, unsent, restored, took);
        }
        else
        {
            LogRestored(silos, entries.Count, restored, unanswered, took);
        }
    }

    /// <summary>Sends one batch, retrying while the shard comes back; answers how many entries it corrected, or null.</summary>
    private async Task<int?> SendAsync(int shard, HostIndexEntry[] batch, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await grains.GetGrain<IHostIndexShardGrain>(shard).RestoreAsync(batch);
            }
            catch (Exception exception) when (attempt < RestoreAttempts && !cancellationToken.IsCancellationRequested)
            {
                LogRestoreRetry(shard, attempt, exception.GetType().Name);
                await Task.Delay(s_retryPause * attempt, time, cancellationToken);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                LogRestoreFailed(shard, batch.Length, exception);
                return null;
            }
        }
    }

    [LoggerMessage(
        EventId = 210,
        Level = LogLevel.Information,
        Message = "Silo {Silos} died: {Sent} hosts active here sent their index entries again, {Restored} of them were " +
            "missing or behind; {Unanswered} hosts did not answer (they publish when they next activate) ({TookMs} ms)")]
    private partial void LogRestored(string silos, int sent, int restored, int unanswered, long tookMs);

    [LoggerMessage(
        EventId = 211,
        Level = LogLevel.Error,
        Message = "Silo {Silos} died: of {Sent} index entries sent again, {Unsent} could not be delivered ({Restored} restored, " +
            "{TookMs} ms); POST /api/v1/index/repair rebuilds the shards")]
    private partial void LogRestoreIncomplete(string silos, int sent, int unsent, int restored, long tookMs);

    [LoggerMessage(EventId = 212, Level = LogLevel.Debug, Message = "Index shard {Shard}: restore attempt {Attempt} failed ({Kind}); retrying")]
    private partial void LogRestoreRetry(int shard, int attempt, string kind);

    [LoggerMessage(EventId = 213, Level = LogLevel.Warning, Message = "Index shard {Shard}: could not restore {Count} entries")]
    private partial void LogRestoreFailed(int shard, int count, Exception exception);
}
