using System.Diagnostics.Metrics;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Hosts;
using Fleet.Grains.Osquery;
using Fleet.Tests.Mdm;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;

namespace Fleet.Tests.Hosts;

/// <summary>
/// The silo's gate for deactivating hosts' last-seen writes, on its own: a few writes at a time, a host whose
/// deactivation ends (or would end) while it waits leaves without writing, and failures are counted and logged without a
/// line each.
/// </summary>
public sealed class DeactivationFlushesTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 9, 0, 0, TimeSpan.Zero));
    private readonly CapturedLogs _logs = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FlushOutcomes _outcomes;
    private readonly FleetMetrics _metrics;

    public DeactivationFlushesTests()
    {
        _outcomes = new FlushOutcomes(_services.GetRequiredService<IMeterFactory>());
        _metrics = new FleetMetrics(_services.GetRequiredService<IMeterFactory>());
    }

    [Fact]
    public async Task ManyHostsAtOnce_WriteAtMostTheSetNumberAtATime_AndEveryOneWrites()
    {
        using var flushes = Flushes(limit: 2);
        var writes = Enumerable.Range(0, 6).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var started = new bool[writes.Length];

        var flushing = writes.Select((write, i) => flushes.FlushAsync($"host-{i}", () =>
        {
            lock (started)
            {
                started[i] = true;
            }

            return write.Task;
        }, CancellationToken.None)).ToArray();

        var runningAtStart = Started(started);
        writes[0].SetResult();
        await flushing[0];
        var afterOne = await EventuallyStartedAsync(started, 3);
        foreach (var write in writes)
        {
            write.TrySetResult();
        }

        var outcomes = await Task.WhenAll(flushing);

        Assert.Equal(2, runningAtStart);
        Assert.Equal(3, afterOne);
        Assert.All(outcomes, outcome => Assert.Equal(DeactivationFlush.Stored, outcome));
        Assert.Equal(6, _outcomes.Of("stored"));
    }

    [Fact]
    public async Task HostWhoseDeactivationEndsWhileItWaits_LeavesWithoutWriting_AndIsCounted()
    {
        using var flushes = Flushes(limit: 1);
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = flushes.FlushAsync("host-a", () => first.Task, CancellationToken.None);
        using var deactivation = new CancellationTokenSource();
        var secondWrote = false;

        var waiting = flushes.FlushAsync("host-b", () =>
        {
            secondWrote = true;
            return Task.CompletedTask;
        }, deactivation.Token);
        await deactivation.CancelAsync();
        var skipped = await waiting;
        first.SetResult();

        Assert.Equal(DeactivationFlush.Skipped, skipped);
        Assert.False(secondWrote);
        Assert.Equal(DeactivationFlush.Stored, await holding);
        Assert.Equal((1, 1), (_outcomes.Of("stored"), _outcomes.Of("skipped")));
        Assert.Equal(
            new Dictionary<string, long> { ["stored"] = 1, ["failed"] = 0, ["skipped"] = 1 },
            _metrics.LastSeenFlushTotals());
        Assert.StartsWith("Host host-b: deactivated without storing its last-seen time", Assert.Single(Warnings(111)).Message, StringComparison.Ordinal);

        // The turn the skipped host never took is not lost: the next host writes.
        Assert.Equal(DeactivationFlush.Stored, await flushes.FlushAsync("host-c", () => Task.CompletedTask, CancellationToken.None));
    }

    [Fact]
    public async Task HostWithNoTurnInHalfOfOrleansDeactivationTimeout_LeavesBeforeOrleansGivesUpOnIt()
    {
        // Orleans cancels a deactivation after its timeout and logs an error with a stack for each; the host leaves first.
        using var flushes = Flushes(limit: 1, deactivationTimeout: TimeSpan.FromSeconds(30));
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = flushes.FlushAsync("host-a", () => first.Task, CancellationToken.None);
        var secondWrote = false;

        var waiting = flushes.FlushAsync("host-b", () =>
        {
            secondWrote = true;
            return Task.CompletedTask;
        }, CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(15) - TimeSpan.FromTicks(1));
        var waitingJustBefore = !waiting.IsCompleted;
        _time.Advance(TimeSpan.FromTicks(1));
        var skipped = await waiting;
        first.SetResult();

        Assert.True(waitingJustBefore);
        Assert.Equal(DeactivationFlush.Skipped, skipped);
        Assert.False(secondWrote);
        Assert.Equal(DeactivationFlush.Stored, await holding);
    }

    [Fact]
    public async Task Skips_AreLoggedAtTheFirst_ThenSummed_AndWhatIsLeftIsLoggedWhenTheSiloStops()
    {
        var flushes = Flushes(limit: 1);
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = flushes.FlushAsync("host-a", () => first.Task, CancellationToken.None);
        using var deactivation = new CancellationTokenSource();
        await deactivation.CancelAsync();

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(DeactivationFlush.Skipped, await flushes.FlushAsync($"host-{i}", () => Task.CompletedTask, deactivation.Token));
        }

        var beforeInterval = Messages().Count;
        _time.Advance(DeactivationFlushes.ReportInterval);
        var afterInterval = Messages();
        Assert.Equal(DeactivationFlush.Skipped, await flushes.FlushAsync("host-5", () => Task.CompletedTask, deactivation.Token));
        flushes.Dispose();
        first.SetResult();

        Assert.Equal(1, beforeInterval);
        Assert.Equal(
            [
                "Host host-0: deactivated without storing its last-seen time: no write turn came within 15 s (Fleet:CheckIns:DeactivationFlushes is 1)",
                "4 more hosts deactivated without storing their last-seen time in the last 30 s: no write turn came in time",
                "1 more hosts deactivated without storing their last-seen time in the last 30 s: no write turn came in time",
            ],
            Messages().Select(Head));
        Assert.Equal(2, afterInterval.Count);

        // The write that held the only turn finishes after the silo stopped, and gives its turn back without failing.
        Assert.Equal(DeactivationFlush.Stored, await holding);
    }

    [Fact]
    public async Task FailedWrites_AreLoggedAtTheFirst_ThenSummedPerInterval_AndTheLastSumWhenTheyStop()
    {
        using var flushes = Flushes(limit: 4);
        static Task Fails() => throw new TimeoutException("storage did not answer");

        var first = await flushes.FlushAsync("host-0", Fails, CancellationToken.None);
        for (var i = 1; i <= 40; i++)
        {
            await flushes.FlushAsync($"host-{i}", Fails, CancellationToken.None);
        }

        var beforeInterval = Messages();
        _time.Advance(DeactivationFlushes.ReportInterval);
        await flushes.FlushAsync("host-41", Fails, CancellationToken.None);
        var afterOneInterval = Messages();

        // No more failures: the next report carries the last one, and the one after finds nothing and stops reporting.
        _time.Advance(DeactivationFlushes.ReportInterval);
        _time.Advance(DeactivationFlushes.ReportInterval);
        var afterQuiet = Messages();
        await flushes.FlushAsync("host-42", Fails, CancellationToken.None);

        Assert.Equal(DeactivationFlush.Failed, first);
        Assert.Equal(["Host host-0: could not store its last-seen time while deactivating"], beforeInterval.Select(Head));
        Assert.Equal(
            [
                "Host host-0: could not store its last-seen time while deactivating",
                "40 more deactivating hosts could not store their last-seen time in the last 30 s; the last, host host-40: TimeoutException: storage did not answer",
            ],
            afterOneInterval.Select(Head));
        Assert.Equal(
            "1 more deactivating hosts could not store their last-seen time in the last 30 s; the last, host host-41: TimeoutException: storage did not answer",
            Head(afterQuiet[^1]));
        Assert.Equal(3, afterQuiet.Count);
        Assert.Equal("Host host-42: could not store its last-seen time while deactivating", Head(Messages()[^1]));
        Assert.Equal(43, _outcomes.Of("failed"));

        // A failed write gives its turn back.
        Assert.Equal(DeactivationFlush.Stored, await flushes.FlushAsync("host-43", () => Task.CompletedTask, CancellationToken.None));
    }

    [Fact]
    public async Task SumOfFailures_IsOneLine_EvenWhenTheStorageErrorsMessageCarriesItsInnerStacks()
    {
        using var flushes = Flushes(limit: 1);
        static Task Fails() => throw new InvalidOperationException("Exc level 0: write failed\n   at Storage.Write()\nExc level 1: 408 Request Timeout");

        await flushes.FlushAsync("host-0", Fails, CancellationToken.None);
        await flushes.FlushAsync("host-1", Fails, CancellationToken.None);
        _time.Advance(DeactivationFlushes.ReportInterval);

        Assert.Equal(
            "1 more deactivating hosts could not store their last-seen time in the last 30 s; the last, host host-1: InvalidOperationException: Exc level 0: write failed",
            Assert.Single(Warnings(112)).Message);
    }

    public void Dispose()
    {
        _outcomes.Dispose();
        _services.Dispose();
    }

    private static int Started(bool[] started)
    {
        lock (started)
        {
            return started.Count(s => s);
        }
    }

    // A released turn is taken by a continuation on the thread pool; the count is read once it settles.
    private static async Task<int> EventuallyStartedAsync(bool[] started, int expected)
    {
        for (var i = 0; i < 200 && Started(started) < expected; i++)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await Task.Delay(50, TestContext.Current.CancellationToken);

        return Started(started);
    }

    // A message up to "; further", the part that names the host and what happened.
    private static string Head(LogLine line) =>
        line.Message.IndexOf("; further", StringComparison.Ordinal) is var end and > 0 ? line.Message[..end] : line.Message;

    private List<LogLine> Messages() =>
        [.. _logs.Lines.Where(l => l.Level == LogLevel.Warning && l.Category.EndsWith(nameof(DeactivationFlushes), StringComparison.Ordinal))];

    private List<LogLine> Warnings(int eventId) => [.. Messages().Where(l => l.EventId == eventId)];

    private DeactivationFlushes Flushes(int limit, TimeSpan? deactivationTimeout = null)
    {
        var logger = new LoggerFactory([_logs]).CreateLogger<DeactivationFlushes>();
        var collection = new GrainCollectionOptions();
        collection.DeactivationTimeout = deactivationTimeout ?? collection.DeactivationTimeout;

        return new DeactivationFlushes(
            Options.Create(new CheckInOptions { DeactivationFlushes = limit }), Options.Create(collection), _metrics, _time, logger);
    }

    /// <summary>
    /// The <c>fleet.hosts.last_seen_flushes</c> counter, by outcome, of this test's meters only (the silos of other tests
    /// in the process count theirs on meters of their own).
    /// </summary>
    private sealed class FlushOutcomes : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _counts = [];

        public FlushOutcomes(IMeterFactory meters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "fleet.hosts.last_seen_flushes" && ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "outcome" && tag.Value is string outcome)
                    {
                        lock (_counts)
                        {
                            _counts[outcome] = _counts.GetValueOrDefault(outcome) + value;
                        }
                    }
                }
            });
            _listener.Start();
        }

        public long Of(string outcome)
        {
            lock (_counts)
            {
                return _counts.GetValueOrDefault(outcome);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
