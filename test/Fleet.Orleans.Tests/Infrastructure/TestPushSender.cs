using System.Collections.Concurrent;
using Fleet.Contracts;
using Fleet.Grains.Mdm;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// The push sender of every test silo: records each push by device token and fails the tokens it is told to.
/// Tests use a fresh token per host, so they never see each other's pushes.
/// </summary>
public sealed class TestPushSender : IPushSender
{
    public static TestPushSender Shared { get; } = new();

    private readonly ConcurrentDictionary<string, ConcurrentQueue<DateTimeOffset>> _pushes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PushResult> _failures = new(StringComparer.Ordinal);

    public Task<PushResult> SendAsync(MdmPushTarget target, CancellationToken cancellationToken)
    {
        _pushes.GetOrAdd(target.Token, _ => new ConcurrentQueue<DateTimeOffset>()).Enqueue(DateTimeOffset.UtcNow);

        return Task.FromResult(_failures.TryGetValue(target.Token, out var failure) ? failure : PushResult.Sent);
    }

    /// <summary>From now on every push to <paramref name="token"/> fails with <paramref name="kind"/> and <paramref name="message"/>.</summary>
    public void FailFor(string token, PushFailureKind kind, string message) => _failures[token] = PushResult.Failed(kind, message);

    /// <summary>When each push to <paramref name="token"/> was attempted, successful or not.</summary>
    public IReadOnlyList<DateTimeOffset> PushesTo(string token) =>
        _pushes.TryGetValue(token, out var pushes) ? [.. pushes] : [];

    /// <summary>Waits until at least <paramref name="count"/> pushes went to <paramref name="token"/>; returns them.</summary>
    public async Task<IReadOnlyList<DateTimeOffset>> WaitForPushesAsync(string token, int count, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        while (PushesTo(token).Count < count)
        {
            if (cancellation.IsCancellationRequested)
            {
                Assert.Fail($"token {token}: expected {count} pushes within {timeout}, saw {PushesTo(token).Count}");
            }

            // Pushes run on the silo's real clock (grain timers); polling the recorder is the observation.
            await Task.Delay(TimeSpan.FromMilliseconds(25), TestContext.Current.CancellationToken);
        }

        return PushesTo(token);
    }
}
