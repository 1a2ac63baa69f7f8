using Fleet.Contracts;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Jobs;

/// <summary>
/// A cluster whose jobs count their progress four times a second, whose cluster cap is out of the way, and
/// whose job reminders fire every two seconds. Tests use fresh host ids and their own jobs.
/// </summary>
public sealed class JobsFixture() : ClusterFixture(Settings(clusterRate: 5000))
{
    /// <summary>How often a job counts its hosts in this fixture.</summary>
    public static readonly TimeSpan ProgressPeriod = TimeSpan.FromMilliseconds(250);

    public static Dictionary<string, string?> Settings(int clusterRate) => new()
    {
        ["Fleet:RefetchJobs:ClusterRate"] = clusterRate.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Fleet:RefetchJobs:ProgressPeriod"] = ProgressPeriod.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        ["Fleet:RefetchJobs:ReminderPeriod"] = "00:00:02",
        ["Fleet:RefetchJobs:StragglerCheckPeriod"] = "00:00:02",
    };
}

/// <summary>The same with a cluster cap of <see cref="ClusterRate"/> requests a second for every job together.</summary>
public sealed class CappedJobsFixture() : ClusterFixture(JobsFixture.Settings(ClusterRate))
{
    public const int ClusterRate = 30;
}

/// <summary>Enrolling hosts, answering their refetches, and waiting for a job, for the job tests.</summary>
internal static class JobTestKit
{
    public static readonly Dictionary<string, IReadOnlyDictionary<string, string>> WindowsDetails = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "windows", ["version"] = "10.0.22631" },
    };

    public static readonly Dictionary<string, IReadOnlyDictionary<string, string>> Mac15Details = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "15.1" },
    };

    private static readonly string[] s_required = ["os_version", "osquery_info", "system_info", "uptime"];

    public static CancellationToken Aborted => TestContext.Current.CancellationToken;

    /// <summary>Enrolls <paramref name="count"/> new hosts; each comes back with its node secret.</summary>
    public static async Task<List<(string Id, string Secret)>> EnrollAsync(
        IGrainFactory grains, Dictionary<string, IReadOnlyDictionary<string, string>> details, int count)
    {
        var ids = Enumerable.Range(0, count).Select(_ => Guid.NewGuid().ToString().ToUpperInvariant()).ToList();
        var keys = await Task.WhenAll(ids.Select(id => grains.GetGrain<IHostGrain>(id).EnrollAsync(new EnrollRequest(details))));

        return [.. ids.Zip(keys, (id, key) => (id, key.NodeKey[(key.NodeKey.IndexOf(':', StringComparison.Ordinal) + 1)..]))];
    }

    /// <summary>The agent takes its detail queries and answers every one.</summary>
    public static async Task AnswerAsync(IGrainFactory grains, (string Id, string Secret) host)
    {
        var grain = grains.GetGrain<IHostGrain>(host.Id);
        Assert.NotEmpty((await grain.ReadAsync(host.Secret)).Queries);
        Assert.True(await grain.WriteAsync(host.Secret, new DetailResults(
            s_required.ToDictionary(n => n, IReadOnlyList<IReadOnlyDictionary<string, string>> (_) => [new Dictionary<string, string> { ["version"] = "15.1" }]),
            s_required.ToDictionary(n => n, _ => 0),
            new Dictionary<string, string>())));
    }

    public static RefetchJobSpec Spec(IEnumerable<string> hostIds, int rate) =>
        new(null, [.. hostIds], rate, DateTimeOffset.UtcNow);

    public static string NewJobId() => Guid.CreateVersion7().ToString("N");

    /// <summary>Reads the job until <paramref name="done"/> holds; fails naming <paramref name="what"/> and the last view.</summary>
    public static async Task<RefetchJobView> WaitForAsync(
        IRefetchJobGrain job, Func<RefetchJobView, bool> done, TimeSpan timeout, string what)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        while (true)
        {
            var view = (await job.GetAsync())!;
            if (done(view))
            {
                return view;
            }

            if (cancellation.IsCancellationRequested)
            {
                Assert.Fail($"job {view.JobId}: {what} not reached within {timeout}; last seen {Describe(view)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), Aborted);
        }
    }

    public static string Describe(RefetchJobView view) =>
        $"{view.State}, matched {view.Matched}, requested {view.Requested}, {view.Counts}, superseded {view.Superseded}, unknown {view.Unknown}";

    /// <summary>When each host's latest refetch was requested (hosts never requested are left out).</summary>
    public static async Task<List<(string Id, RefetchView Refetch)>> RefetchesAsync(IGrainFactory grains, IEnumerable<string> hostIds)
    {
        var views = await Task.WhenAll(hostIds.Select(async id => (id, (await grains.GetGrain<IHostGrain>(id).GetAsync())?.Refetch)));

        return [.. views.Where(v => v.Refetch is not null).Select(v => (v.id, v.Refetch!))];
    }

    /// <summary>The most request times that fall in any one-second window.</summary>
    public static int BusiestSecond(IReadOnlyList<DateTimeOffset> times) =>
        times.Max(start => times.Count(t => t >= start && t < start.AddSeconds(1)));
}
