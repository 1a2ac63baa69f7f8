using Fleet.Api.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Fleet.Tests.Resilience;

/// <summary>The Api's retry of idempotent grain calls: only transient cluster failures, a few times, within the budget.</summary>
public sealed class IdempotentCallsTests
{
    private static IdempotentCalls Calls(int attempts = 3, TimeSpan? budget = null) => new(
        Options.Create(new ClusterClientOptions
        {
            RetryAttempts = attempts,
            RetryBackoff = TimeSpan.FromMilliseconds(1),
            RetryBudget = budget ?? TimeSpan.FromSeconds(2),
        }),
        TimeProvider.System,
        NullLogger<IdempotentCalls>.Instance);

    [Fact]
    public async Task RunAsync_WhenTheSiloIsGoneTwice_AnswersFromTheThirdTry()
    {
        var tries = 0;

        var answer = await Calls().RunAsync("test", () =>
            ++tries < 3 ? throw new SiloUnavailableException("silo gone") : Task.FromResult("answer"));

        Assert.Equal("answer", answer);
        Assert.Equal(3, tries);
    }

    [Fact]
    public async Task RunAsync_WhenEveryTryFindsTheGatewayBusy_GivesUpAfterTheLastAttemptWithTheClusterError()
    {
        var tries = 0;

        var error = await Assert.ThrowsAsync<GatewayTooBusyException>(() => Calls(attempts: 3).RunAsync<int>("test", () =>
        {
            tries++;
            throw new GatewayTooBusyException("busy");
        }));

        Assert.Equal("busy", error.Message);
        Assert.Equal(3, tries);
    }

    [Fact]
    public async Task RunAsync_WhenTheGrainItselfFails_DoesNotRetry()
    {
        var tries = 0;

        await Assert.ThrowsAsync<InvalidOperationException>(() => Calls().RunAsync<int>("test", () =>
        {
            tries++;
            throw new InvalidOperationException("grain refused");
        }));

        Assert.Equal(1, tries);
    }

    [Fact]
    public async Task RunAsync_WhenTheBudgetIsSpent_DoesNotRetryATimeout()
    {
        var tries = 0;

        await Assert.ThrowsAsync<TimeoutException>(() => Calls(budget: TimeSpan.Zero).RunAsync<int>("test", () =>
        {
            tries++;
            throw new TimeoutException("no answer");
        }));

        Assert.Equal(1, tries);
    }

    [Theory]
    [InlineData(1, 50, 100)]
    [InlineData(2, 100, 200)]
    [InlineData(3, 200, 400)]
    public void Pause_DoublesPerAttempt_JitteredDownToHalf(int attempt, int minMs, int maxMs)
    {
        var pause = IdempotentCalls.Pause(TimeSpan.FromMilliseconds(100), attempt);

        Assert.InRange(pause.TotalMilliseconds, minMs, maxMs);
    }
}
