using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Fleet.Api.Hosting;

/// <summary>
/// Runs a grain call that may safely run twice (a read, a refetch request, which answers the refetch in
/// flight on a repeat) again when the cluster failed it in passing: a dead gateway, a silo that is going
/// away, a message the cluster rejected. A few attempts with short jittered pauses, and never past
/// <see cref="ClusterClientOptions.RetryBudget"/>, so a call that timed out is not waited for twice. Calls
/// that change state in a way a repeat would double go through the grain directly, never through this.
/// </summary>
public sealed partial class IdempotentCalls(
    IOptions<ClusterClientOptions> options,
    TimeProvider time,
    ILogger<IdempotentCalls> logger)
{
    /// <summary>Returns the call's answer, retrying it while the failure is transient and the budget lasts.</summary>
    public async Task<T> RunAsync<T>(string call, Func<Task<T>> invoke)
    {
        var settings = options.Value;
        var started = time.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await invoke();
            }
            catch (Exception exception) when (attempt < settings.RetryAttempts && IsTransient(exception))
            {
                var pause = Pause(settings.RetryBackoff, attempt);
                if (time.GetElapsedTime(started) + pause > settings.RetryBudget)
                {
                    throw;
                }

                LogRetrying(call, attempt, exception.GetType().Name, pause.TotalMilliseconds);
                await Task.Delay(pause, time);
            }
        }
    }

    /// <summary>
    /// Failures of the way to a grain, not of the grain: the call did not run, or ran and may be repeated.
    /// A grain's own exception (bad argument, storage write refused) is never one of these.
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        SiloUnavailableException or OrleansMessageRejectionException or GatewayTooBusyException => true,
        TimeoutException or ConnectionFailedException => true,
        _ => false,
    };

    /// <summary>Backoff doubling from <paramref name="backoff"/>, each pause drawn between half and all of it.</summary>
    internal static TimeSpan Pause(TimeSpan backoff, int attempt)
    {
        var ceiling = backoff * Math.Pow(2, attempt - 1);

        return ceiling * (0.5 + (Random.Shared.NextDouble() / 2));
    }

    [LoggerMessage(EventId = 311, Level = LogLevel.Warning,
        Message = "Grain call {Call} failed in passing (attempt {Attempt}, {Kind}); retrying in {PauseMs:F0} ms")]
    private partial void LogRetrying(string call, int attempt, string kind, double pauseMs);
}
