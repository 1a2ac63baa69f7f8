using Fleet.Contracts;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Hosts;

/// <summary>The host's side of bulk refetch jobs: one refetch per host per job.</summary>
internal sealed partial class HostGrain
{
    async Task<RefetchRequestResult> IHostGrain.RequestRefetchForJobAsync(string jobId)
    {
        if (!State.Enrolled)
        {
            return new RefetchRequestResult(RefetchOutcome.UnknownHost, null);
        }

        // A job that re-sends its batch after a crash must not refetch the host a second time.
        if (State.Refetch is { } latest && string.Equals(latest.JobId, jobId, StringComparison.Ordinal))
        {
            return new RefetchRequestResult(RefetchOutcome.AlreadyRequested, latest.ToView(HostId));
        }

        if (State.Refetch is { InFlight: true } inFlight)
        {
            // The refetch in flight answers the job as well; only the job it counts towards changes.
            State.Refetch = inFlight with { JobId = jobId };
            await PersistAsync();
            LogAdoptedForJob(HostId, inFlight.Epoch, jobId, inFlight.JobId ?? "none");

            return new RefetchRequestResult(RefetchOutcome.AlreadyInFlight, State.Refetch.ToView(HostId));
        }

        Advance(RequestedEvent());
        State.Refetch = State.Refetch! with { JobId = jobId };
        await PersistAsync();
        LogRequestedForJob(HostId, State.Refetch.Epoch, jobId);

        return new RefetchRequestResult(RefetchOutcome.Started, State.Refetch.ToView(HostId));
    }

    [LoggerMessage(EventId = 108, Level = LogLevel.Debug, Message = "Host {HostId} epoch {Epoch}: refetch requested by job {JobId}")]
    private partial void LogRequestedForJob(string hostId, int epoch, string jobId);

    [LoggerMessage(EventId = 109, Level = LogLevel.Debug,
        Message = "Host {HostId} epoch {Epoch}: refetch in flight adopted by job {JobId} (was {PreviousJobId})")]
    private partial void LogAdoptedForJob(string hostId, int epoch, string jobId, string previousJobId);
}
