using Fleet.Contracts;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using Orleans.Runtime;

namespace Fleet.Tests.Security;

/// <summary>
/// The idempotency key grain on a cluster of its own (answers kept for 5 s, and activations are collected at will):
/// one request at a time holds a key, the first answer is stored and replayed, and it is forgotten once it expires.
/// </summary>
public sealed class IdempotencyGrainTests(IdempotencyGrainTests.Fixture fixture) : IClassFixture<IdempotencyGrainTests.Fixture>
{
    private static readonly IdempotentAnswer s_accepted = new(202, "application/json", "/api/v1/refetch_jobs/j1", "{\"id\":\"j1\"}"u8.ToArray());

    [Fact]
    public async Task SecondRequest_WhileTheFirstRuns_IsInProgress_AndAnotherRequestIsAMismatch()
    {
        var key = Key();

        var first = await key.BeginAsync("fp-1");
        var second = await key.BeginAsync("fp-1");
        var other = await key.BeginAsync("fp-2");

        Assert.Equal(IdempotencyOutcome.Run, first.Outcome);
        Assert.Equal(IdempotencyOutcome.InProgress, second.Outcome);
        Assert.Equal(IdempotencyOutcome.Mismatch, other.Outcome);
    }

    [Fact]
    public async Task ReleasedKey_RunsTheRetry()
    {
        var key = Key();
        await key.BeginAsync("fp-1");

        await key.ReleaseAsync("fp-1");
        var retry = await key.BeginAsync("fp-1");

        Assert.Equal(IdempotencyOutcome.Run, retry.Outcome);
    }

    [Fact]
    public async Task CompletedAnswer_IsReplayed_EvenAfterTheActivationIsCollected()
    {
        var key = Key();
        await key.BeginAsync("fp-1");
        await key.CompleteAsync("fp-1", s_accepted);

        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero, TestContext.Current.CancellationToken);
        var replay = await key.BeginAsync("fp-1");
        var other = await key.BeginAsync("fp-2");

        Assert.Equal(IdempotencyOutcome.Replay, replay.Outcome);
        Assert.Equal(s_accepted.Status, replay.Answer!.Status);
        Assert.Equal(s_accepted.Location, replay.Answer.Location);
        Assert.Equal(s_accepted.ContentType, replay.Answer.ContentType);
        Assert.Equal(s_accepted.Body, replay.Answer.Body);
        Assert.Equal(IdempotencyOutcome.Mismatch, other.Outcome);
    }

    [Fact]
    public async Task Answer_IsForgottenOnceItExpires_SoTheKeyRunsAgain()
    {
        var key = Key();
        await key.BeginAsync("fp-1");
        await key.CompleteAsync("fp-1", s_accepted);
        var kept = await key.BeginAsync("fp-1");

        var expired = await ApiTestKit.EventuallyAsync(
            () => key.BeginAsync("fp-2"),
            begin => begin.Outcome == IdempotencyOutcome.Run,
            "the key's answer expiring after 5 s",
            TimeSpan.FromSeconds(20),
            begin => begin.Outcome.ToString());

        Assert.Equal(IdempotencyOutcome.Replay, kept.Outcome);
        Assert.Null(expired.Answer);
    }

    private IIdempotencyGrain Key() =>
        fixture.Grains.GetGrain<IIdempotencyGrain>(IdempotencyKeys.GrainKey("tester", Guid.NewGuid().ToString("N")));

    public sealed class Fixture() : ClusterFixture(new Dictionary<string, string?> { ["Fleet:Idempotency:Retention"] = "00:00:05" });
}
