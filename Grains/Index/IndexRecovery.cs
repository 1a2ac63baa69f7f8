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
/// silo sends its current entry again, in batches per shard (<see cref="IHostIndexShardGrain.RestoreAsync"/>).
/// Hosts that were on the dead silo publish when they next activate, as always.
/// </summary>
/// <remarks>
/// Host grains add themselves when they activate and leave when they deactivate: a set of references is the
/// whole cost while nothing dies. The same death makes Orleans deactivate the hosts whose directory entry the
/// dead silo kept, possibly before the set is read; those leave their entry here on the way out
/// (<see cref="Deactivated"/>), and it is sent with the others.
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

    // An entry left by a host the directory deactivated waits this long for the death to be declared; the
    // directory acts when a silo starts shutting down, which may be a while before it is dead.
    private static readonly TimeSpan s_displacedKeep = TimeSpan.FromMinutes(2);

    private readonly Lock _lock = new();
    private readonly HashSet<IAddressable> _hosts = new(ReferenceEqualityComparer.Instance);
    private readonly List<(HostIndexEntry Entry, DateTimeOffset At)> _displaced = [];

    /// <summary>Called by a host grain at the end of its activation.</summary>
    public void Activated(IAddressable host)
    {
        lock (_lock)
        {
            _hosts.Add(host);
        }
    }

    /// <summary>
    /// Called by a host grain when it deactivates, with its entry when the directory deactivated it because a
    /// silo is going: that entry is sent with the next restore.
    /// </summary>
    public void Deactivated(IAddressable host, HostIndexEntry? displaced = null)
    {
        lock (_lock)
        {
            _hosts.Remove(host);
            if (displaced is null)
            {
                return;
            }

            var now = time.GetUtcNow();
            _displaced.RemoveAll(left => now - left.At > s_displacedKeep);
            _displaced.Add((displaced, now));
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
                if (died.Count == 0)
                {
                    continue;
                }

                try
                {
                    await RestoreAsync(died, stoppingToken);
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogRestoreCrashed(string.Join(", ", died), exception);
                }
            }
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
            // The silo is stopping; whatever was under way no longer matters.
        }
    }

    /// <summary>
    /// Other silos that were running in <paramref name="previous"/> and are dead in <paramref name="current"/>;
    /// a silo that died while joining held nothing.
    /// </summary>
    private List<SiloAddress> Died(ClusterMembershipSnapshot previous, ClusterMembershipSnapshot current) =>
        [.. current.CreateUpdate(previous).Changes
            .Where(member => member.Status == SiloStatus.Dead
                && !member.SiloAddress.Equals(localSilo.SiloAddress)
                && previous.Members.TryGetValue(member.SiloAddress, out var was)
                && was.Status is SiloStatus.Active or SiloStatus.ShuttingDown or SiloStatus.Stopping)
            .Select(member => member.SiloAddress)];

    private async Task RestoreAsync(List<SiloAddress> died, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        IAddressable[] hosts;
        var entries = new ConcurrentBag<HostIndexEntry>();
        lock (_lock)
        {
            hosts = [.. _hosts];
            var now = time.GetUtcNow();
            foreach (var (entry, at) in _displaced.Where(left => now - left.At <= s_displacedKeep))
            {
                entries.Add(entry);
            }

            _displaced.Clear();
        }

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
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    // The host publishes when it next activates.
                    Interlocked.Increment(ref unanswered);
                }
            });

        // One sender per shard, so a shard that cannot be reached delays only its own hosts.
        var outcomes = await Task.WhenAll(entries
            .GroupBy(entry => HostIndex.ShardOf(entry.HostId))
            .Select(shard => SendShardAsync(shard.Key, [.. shard], cancellationToken)));
        var (restored, unsent) = (outcomes.Sum(outcome => outcome.Restored), outcomes.Sum(outcome => outcome.Unsent));

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

    private async Task<(int Restored, int Unsent)> SendShardAsync(int shard, List<HostIndexEntry> entries, CancellationToken cancellationToken)
    {
        var (restored, unsent) = (0, 0);
        foreach (var batch in entries.Chunk(RestoreBatch))
        {
            if (await SendAsync(shard, batch, cancellationToken) is { } corrected)
            {
                restored += corrected;
            }
            else
            {
                unsent += batch.Length;
            }
        }

        return (restored, unsent);
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
            catch (Exception exception)
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

    [LoggerMessage(
        EventId = 214,
        Level = LogLevel.Error,
        Message = "Silo {Silos} died: sending index entries again failed; POST /api/v1/index/repair rebuilds the shards")]
    private partial void LogRestoreCrashed(string silos, Exception exception);
}
