using System.Diagnostics.CodeAnalysis;
using Fleet.AgentSimulator.Mdm;

namespace Fleet.AgentSimulator;

/// <summary>
/// Drives one <see cref="SimulatedAgent"/> the way osquery drives itself: enroll, then check in
/// every interval with jitter so that hosts do not move in step, fetching config now and then. A reconnect
/// storm cuts the wait short: the agent drops its node key and enrolls again at once.
/// </summary>
[SuppressMessage("Security", "CA5394", Justification = "Jitter only spreads check-ins out; it is no secret.")]
public sealed class AgentScheduler(SimulatorOptions options, ErrorLog errors, ReconnectStorm? storms = null)
{
    // osquery fetches config far less often than it reads distributed queries (60 s against 10 s by default).
    private const int ConfigEveryTicks = 6;

    private const double Jitter = 0.1;

    /// <summary>Runs the agent until <paramref name="cancellationToken"/> fires; never throws.</summary>
    public async Task RunAsync(SimulatedAgent agent, int number, CancellationToken cancellationToken)
    {
        var random = new Random(unchecked((options.Seed * 1_000_003) + number));
        try
        {
            while (!agent.IsEnrolled && !await TryAsync(agent, agent.EnrollAsync, cancellationToken))
            {
                await Task.Delay(options.Interval, cancellationToken);
            }

            var storm = storms?.Token ?? CancellationToken.None;
            await PauseAsync(options.Interval * random.NextDouble());
            for (var tick = 0; agent.Fault.Kind != FaultKind.Silent; tick++)
            {
                if (tick % ConfigEveryTicks == 0)
                {
                    await TryAsync(agent, agent.ConfigAsync, cancellationToken);
                }

                await TryAsync(agent, agent.CheckInAsync, cancellationToken);
                var jitter = 1 - Jitter + (2 * Jitter * random.NextDouble());
                await PauseAsync(options.Interval * jitter);
            }

            async Task PauseAsync(TimeSpan delay)
            {
                if (!storm.IsCancellationRequested)
                {
                    using var either = CancellationTokenSource.CreateLinkedTokenSource(storm, cancellationToken);
                    try
                    {
                        await Task.Delay(delay, either.Token);
                        return;
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        // The storm broke.
                    }
                }

                agent.Disconnect();
                storm = storms!.Token;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: Ctrl-C or the end of --duration.
        }
    }

    /// <summary>
    /// Runs a Mac's MDM side until <paramref name="cancellationToken"/> fires: enroll, a first session, then a
    /// session on every push, or after the poll interval when none comes. An asleep Mac only enrolls. Never throws.
    /// </summary>
    public async Task RunMacAsync(SimulatedAgent agent, MdmClient client, CancellationToken cancellationToken)
    {
        var mac = agent.Mac ?? throw new ArgumentException($"{agent.Identity.Hostname} is not a Mac", nameof(agent));
        try
        {
            while (!await TryAsync(agent, token => client.EnrollAsync(mac, token), cancellationToken))
            {
                await Task.Delay(options.Interval, cancellationToken);
            }

            while (mac.Awake)
            {
                await TryAsync(agent, token => client.RunSessionAsync(mac, token), cancellationToken);
                await mac.WaitForWakeAsync(options.MdmPoll, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: Ctrl-C or the end of --duration.
        }
    }

    private async Task<bool> TryAsync(
        SimulatedAgent agent, Func<CancellationToken, Task> call, CancellationToken cancellationToken)
    {
        try
        {
            await call(cancellationToken);

            return true;
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
        {
            errors.Report(agent, exception);

            return false;
        }
    }
}
