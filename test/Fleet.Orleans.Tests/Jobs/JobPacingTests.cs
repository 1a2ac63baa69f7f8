using Fleet.Contracts;
using Fleet.Grains.Jobs;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Configuration;

namespace Fleet.Tests.Jobs;

/// <summary>The job's token bucket, the cluster's fair share and the progress arithmetic, on fixed instants.</summary>
public sealed class JobPacingTests
{
    private static readonly DateTimeOffset s_start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Bucket_StartsFullWithAFifthOfASecond_ThenGrantsTheRateOverTime()
    {
        var (spent, burst) = TokenBucket.Full(10, s_start).Take(s_start, int.MaxValue);

        var (_, oneTickEarly) = spent.Take(s_start.AddMilliseconds(99), int.MaxValue);
        var (_, atTick) = spent.Take(s_start.AddMilliseconds(100), int.MaxValue);
        var (_, aSecondLater) = spent.Take(s_start.AddSeconds(1), int.MaxValue);

        Assert.Equal(2, burst);
        Assert.Equal(0, oneTickEarly);
        Assert.Equal(1, atTick);
        Assert.Equal(2, aSecondLater);
    }

    [Fact]
    public void Bucket_OverAnySecond_GrantsAtMostTheRatePlusTheBurst()
    {
        var bucket = TokenBucket.Full(50, s_start);
        var grants = new List<(DateTimeOffset At, int Count)>();

        for (var ms = 0; ms <= 5000; ms += 30)
        {
            var now = s_start.AddMilliseconds(ms);
            (bucket, var granted) = bucket.Take(now, int.MaxValue);
            grants.Add((now, granted));
        }

        var worst = grants.Max(g => grants.Where(o => o.At >= g.At && o.At < g.At.AddSeconds(1)).Sum(o => o.Count));
        Assert.Equal(10, TokenBucket.BurstFor(50));
        Assert.InRange(worst, 50, 60);
        Assert.InRange(grants.Sum(g => g.Count), 259, 260);
    }

    [Fact]
    public void Bucket_ReturnedTokens_AreGrantedAgainButNeverAboveTheCapacity()
    {
        var (empty, first) = TokenBucket.Full(10, s_start).Take(s_start, 2);

        var refunded = empty.Return(5);
        var (_, again) = refunded.Take(s_start, int.MaxValue);

        Assert.Equal(2, first);
        Assert.Equal(2, again);
    }

    [Fact]
    public void Bucket_WhenTheClockStepsBack_GrantsNothingExtra()
    {
        var (spent, _) = TokenBucket.Full(10, s_start).Take(s_start, int.MaxValue);

        var (_, granted) = spent.Take(s_start.AddSeconds(-10), int.MaxValue);

        Assert.Equal(0, granted);
    }

    [Theory]
    [InlineData(6.0, 1, 6)]
    [InlineData(6.0, 2, 3)]
    [InlineData(6.0, 4, 2)]
    [InlineData(6.0, 10, 1)]
    [InlineData(1.0, 3, 1)]
    public void FairShare_SplitsTheBurstBetweenTheJobsAsking(double capacity, int jobs, int expected) =>
        Assert.Equal(expected, RefetchRateLimiterGrain.FairShare(capacity, jobs));

    [Theory]
    [InlineData(10, 0, 0, 0, 0, 10)]
    [InlineData(10, 2, 3, 4, 1, 0)]
    [InlineData(10, 1, 1, 1, 1, 6)]
    [InlineData(3, 2, 2, 0, 0, 0)]
    public void Superseded_IsRequestedLessCounted_NeverNegative(int requested, int pending, int verifying, int verified, int failed, int expected) =>
        Assert.Equal(expected, JobProgress.Superseded(requested, new RefetchJobCounts(pending, verifying, verified, failed)));

    [Fact]
    public void Shown_CountsHostsTheIndexHasNotHeardOfAsPending_UntilItHadTimeToSettle()
    {
        var counted = new RefetchJobCounts(1, 0, 2, 0);
        var last = s_start;

        Assert.Equal((5, new RefetchJobCounts(3, 0, 2, 0), 0), JobProgress.Shown(5, 0, counted, last, last + JobProgress.IndexSettle - TimeSpan.FromTicks(1)));
        Assert.Equal((5, counted, 2), JobProgress.Shown(5, 0, counted, last, last + JobProgress.IndexSettle));
        Assert.Equal((5, counted, 2), JobProgress.Shown(5, 0, counted, null, last));
        Assert.Equal((3, counted, 0), JobProgress.Shown(3, 0, counted, last, last));
    }

    [Fact]
    public void Shown_CountsHostsOfTheBatchBeingAskedThatTheIndexAlreadyShows_AsRequested()
    {
        var counted = new RefetchJobCounts(7, 0, 3, 0);
        var settled = s_start + JobProgress.IndexSettle;

        // 8 requested before the batch of 5 now being asked; the index already counts 2 of the batch.
        Assert.Equal((10, counted, 0), JobProgress.Shown(8, 5, counted, s_start, settled));
        Assert.Equal((10, counted, 0), JobProgress.Shown(8, 5, counted, s_start, s_start));

        // Never more than the whole batch, and without a batch never more than requested.
        Assert.Equal((9, counted, 0), JobProgress.Shown(4, 5, counted, s_start, settled));
        Assert.Equal((6, counted, 0), JobProgress.Shown(6, 0, counted, s_start, settled));
    }

    [Fact]
    public void IsDone_OnlyWhenDrainingWithNothingInFlight_AndTheIndexHadTimeToSettle()
    {
        var last = s_start;
        var settled = last + JobProgress.IndexSettle;
        var quiet = new RefetchJobCounts(0, 0, 3, 1);

        Assert.False(JobProgress.IsDone(RefetchJobState.Running, quiet, last, settled));
        Assert.False(JobProgress.IsDone(RefetchJobState.Draining, new RefetchJobCounts(1, 0, 3, 1), last, settled));
        Assert.False(JobProgress.IsDone(RefetchJobState.Draining, new RefetchJobCounts(0, 1, 3, 1), last, settled));
        Assert.False(JobProgress.IsDone(RefetchJobState.Draining, quiet, last, settled.AddTicks(-1)));
        Assert.True(JobProgress.IsDone(RefetchJobState.Draining, quiet, last, settled));
        Assert.True(JobProgress.IsDone(RefetchJobState.Draining, RefetchJobCounts.Zero, null, s_start));
    }

    [Fact]
    public void Rate_IsTheSlopeOverTheWindow_AndOldSamplesDropOut()
    {
        var samples = new List<(DateTimeOffset At, int Requested)>();

        JobProgress.AddSample(samples, s_start, 0);
        var single = JobProgress.Rate(samples);
        JobProgress.AddSample(samples, s_start.AddSeconds(2), 100);
        var twoSeconds = JobProgress.Rate(samples);
        JobProgress.AddSample(samples, s_start.AddSeconds(7), 150);
        var afterWindow = JobProgress.Rate(samples);

        Assert.Equal(0, single);
        Assert.Equal(50, twoSeconds);
        Assert.Equal(2, samples.Count);
        Assert.Equal(10, afterWindow);
    }

    [Fact]
    public void Eta_IsTheRemainingHostsAtTheMeasuredRate_OnlyWhileRunning()
    {
        Assert.Equal(s_start.AddSeconds(10), JobProgress.Eta(RefetchJobState.Running, 1000, 500, 50, s_start));
        Assert.Equal(s_start, JobProgress.Eta(RefetchJobState.Running, 1000, 1000, 50, s_start));
        Assert.Null(JobProgress.Eta(RefetchJobState.Running, 1000, 500, 0, s_start));
        Assert.Null(JobProgress.Eta(RefetchJobState.Draining, 1000, 1000, 50, s_start));
        Assert.Null(JobProgress.Eta(RefetchJobState.Cancelled, 1000, 500, 50, s_start));
    }

    [Theory]
    [InlineData("DefaultRate", "0", "Fleet:RefetchJobs:DefaultRate must be between 1 and 5000 (was 0).")]
    [InlineData("ClusterRate", "5001", "Fleet:RefetchJobs:ClusterRate must be between 1 and 5000 (was 5001).")]
    [InlineData("BatchSize", "0", "Fleet:RefetchJobs:BatchSize must be between 1 and 1000 (was 0).")]
    [InlineData("ProgressPeriod", "00:00:00", "Fleet:RefetchJobs:ProgressPeriod must be positive (was 00:00:00).")]
    [InlineData("ReminderPeriod", "00:00:00.500", "Fleet:RefetchJobs:ReminderPeriod must be at least 00:00:01 (was 00:00:00.5000000).")]
    [InlineData("StragglerCheckPeriod", "00:00:00", "Fleet:RefetchJobs:StragglerCheckPeriod must be positive (was 00:00:00).")]
    public void Options_RefuseABadSetting_NamingItsKey(string key, string value, string expected)
    {
        var (options, validator) = Bind(new() { [$"Fleet:RefetchJobs:{key}"] = value });

        var result = validator.Validate(null, options);

        Assert.True(result.Failed, $"{key}={value}: expected a failure");
        Assert.Equal([expected], result.Failures);
    }

    [Fact]
    public void Options_RefuseAMisspeltKey_AndAcceptTheDefaults()
    {
        var (misspelt, validator) = Bind(new() { ["Fleet:RefetchJobs:DefaultRat"] = "10" });
        var (defaults, defaultsValidator) = Bind([]);

        var failures = validator.Validate(null, misspelt).Failures ?? [];

        Assert.Single(failures);
        Assert.StartsWith("Fleet:RefetchJobs:DefaultRat is not a setting; use ", failures.Single(), StringComparison.Ordinal);
        Assert.True(defaultsValidator.Validate(null, defaults).Succeeded);
        Assert.Equal((50, 500, 100), (defaults.DefaultRate, defaults.ClusterRate, defaults.BatchSize));
    }

    private static (RefetchJobOptions Options, RefetchJobOptionsValidator Validator) Bind(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var options = configuration.GetSection(RefetchJobOptions.SectionName).Get<RefetchJobOptions>() ?? new RefetchJobOptions();

        return (options, new RefetchJobOptionsValidator(configuration));
    }
}
