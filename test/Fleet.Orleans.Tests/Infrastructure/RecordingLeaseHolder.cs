using System.Collections.Concurrent;
using Fleet.Contracts;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// A check-in lease holder in a test's cluster client that records each revocation, in the order hosts sent
/// them. A silent one records the call and never answers, like an Api process that hangs.
/// </summary>
internal sealed class RecordingLeaseHolder : ICheckInLeaseHolder, IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly bool _silent;
    private readonly BlockingCollection<(string HostId, long Grant)> _revoked = [];
    private readonly TaskCompletionSource _never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RecordingLeaseHolder(IGrainFactory grains, bool silent = false)
    {
        _grains = grains;
        _silent = silent;
        Reference = grains.CreateObjectReference<ICheckInLeaseHolder>(this);
    }

    public ICheckInLeaseHolder Reference { get; }

    public Task RevokeAsync(string hostId, long grant)
    {
        _revoked.Add((hostId, grant));

        return _silent ? _never.Task : Task.CompletedTask;
    }

    /// <summary>The revocations received since the last call, oldest first.</summary>
    public List<(string HostId, long Grant)> Revoked()
    {
        var revoked = new List<(string, long)>();
        while (_revoked.TryTake(out var one))
        {
            revoked.Add(one);
        }

        return revoked;
    }

    /// <summary>The next revocation, waiting up to <paramref name="within"/> for it.</summary>
    public Task<(string HostId, long Grant)> NextRevokedAsync(TimeSpan within) =>
        Task.Run(
            () => _revoked.TryTake(out var one, within) ? one : throw new TimeoutException($"no revocation within {within}"),
            TestContext.Current.CancellationToken);

    public void Dispose()
    {
        _never.TrySetCanceled();
        _grains.DeleteObjectReference<ICheckInLeaseHolder>(Reference);
    }
}

/// <summary>Hosts for the lease tests: a macOS 14 machine (its refetch never times out during a test), enrolled straight at its grain.</summary>
internal static class LeaseTestHosts
{
    public static readonly Dictionary<string, IReadOnlyDictionary<string, string>> Mac14 = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "14.1.2", ["name"] = "Mac OS X" },
    };

    public static async Task<(IHostGrain Host, string HostId, string Secret)> EnrollMacAsync(IGrainFactory grains)
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var host = grains.GetGrain<IHostGrain>(hostId);
        var key = (await host.EnrollAsync(new EnrollRequest(Mac14))).NodeKey;

        return (host, hostId, key[(key.IndexOf(':', StringComparison.Ordinal) + 1)..]);
    }
}
