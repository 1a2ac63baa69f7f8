using System.Collections.Concurrent;
using Fleet.Contracts;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// Failures a test asks for inside its own cluster's silos (in this process, so they share these sets): a
/// shard refusing to save a host's wake-up, as when the shard's silo has just died. Off unless the cluster was
/// created with <see cref="SettingKey"/> set to true.
/// </summary>
public static class InjectedFaults
{
    public const string SettingKey = "Test:InjectedFaults";

    private static readonly ConcurrentDictionary<string, byte> s_trackWakeFailures = new(StringComparer.Ordinal);

    /// <summary>Until disposed, every <see cref="IHostIndexShardGrain.TrackWakeAsync"/> for the host throws.</summary>
    public static IDisposable FailTrackWake(string hostId)
    {
        s_trackWakeFailures[hostId] = 0;

        return new Release(() => s_trackWakeFailures.TryRemove(hostId, out _));
    }

    private sealed class Release(Action release) : IDisposable
    {
        public void Dispose() => release();
    }

    internal sealed class Filter : IIncomingGrainCallFilter
    {
        public Task Invoke(IIncomingGrainCallContext context)
        {
            if (context.InterfaceMethod?.Name == nameof(IHostIndexShardGrain.TrackWakeAsync)
                && context.Request.GetArgument(0) is HostIndexEntry entry
                && s_trackWakeFailures.ContainsKey(entry.HostId))
            {
                throw new SiloUnavailableException($"Injected: the shard of host {entry.HostId} is unreachable.");
            }

            return context.Invoke();
        }
    }
}
