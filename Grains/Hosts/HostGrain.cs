using System.Security.Cryptography;
using System.Text;
using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Osquery;
using Fleet.Grains.Profiles;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Fleet.Grains.Hosts;

/// <summary>
/// One machine's truth. Check-ins that change nothing stay in memory; real changes are persisted before
/// they are acknowledged. While a refetch is in flight a grain timer wakes the host at its deadline, and
/// a durable reminder re-activates it after a crash.
/// </summary>
internal sealed partial class HostGrain(
    [PersistentState("host", FleetStorage.HostStore)] IPersistentState<HostState> store,
    IOptionsMonitor<RefetchOptions> options,
    IOptionsMonitor<ProfileOptions> profileOptions,
    TimeProvider time,
    FleetMetrics metrics,
    ILogger<HostGrain> logger) : Grain, IHostGrain, IRemindable
{
    public const int HistoryLimit = 50;
    private const string DeadlineReminder = "refetch-deadline";

    private IGrainTimer? _deadlineTimer;
    private IGrainReminder? _reminder;

    // True while state changed in memory but not in storage: last-seen and detail times, or the
    // transient Verifying status. The next real write, or deactivation, carries it.
    private bool _unsavedCheckIn;

    private HostState State => store.State;

    private string HostId => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!State.Enrolled)
        {
            return;
        }

        await OnProfilesActivateAsync();
        if (State.Refetch is { InFlight: true, Deadline: { } deadline })
        {
            // Whoever registered it may have been a crashed activation; the deadline in state is what counts.
            _reminder = await this.GetReminder(DeadlineReminder, cancellationToken) ?? await RegisterReminderAsync();
            ArmTimer(deadline);
        }

        PublishToIndex();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_unsavedCheckIn && State.Enrolled)
        {
            try
            {
                // No index publish: at shutdown the shard may already be gone, and the next activation publishes.
                await PersistAsync(publish: false);
            }
            catch (Exception exception)
            {
                // Only a last-seen time is at stake; losing it is acceptable, losing the activation is not.
                LogLastSeenFlushFailed(HostId, exception);
            }
        }
    }

    async Task<EnrollResult> IHostGrain.EnrollAsync(EnrollRequest request)
    {
        var now = time.GetUtcNow();
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var reEnrolled = State.Enrolled;

        State.Details = DetailIngest.FromEnrollment(HostId, request.HostDetails, State.Details);
        State.EnrolledAt ??= now;
        State.NodeSecretHash = Hash(secret);
        State.LastSeenAt = now;
        State.StatusChangedAt ??= now;
        await PersistAsync();

        LogEnrolled(HostId, State.Details.Platform, State.Details.OsVersion, reEnrolled);

        return new EnrollResult(NodeKeys.Compose(HostId, secret));
    }

    Task<bool> IHostGrain.GetConfigAsync(string nodeSecret) => Task.FromResult(CheckIn(nodeSecret, "config"));

    Task<bool> IHostGrain.LogAsync(string nodeSecret) => Task.FromResult(CheckIn(nodeSecret, "log"));

    async Task<DistributedReadResult> IHostGrain.ReadAsync(string nodeSecret)
    {
        if (!CheckIn(nodeSecret, "distributed_read"))
        {
            return DistributedReadResult.Invalid;
        }

        if (State.Refetch is not { InFlight: true })
        {
            return new DistributedReadResult(true, EmptyQueries);
        }

        await StepAsync(new RefetchEvent.QueriesHandedOut());

        var queries = DetailQueries.For(State.Details?.Platform)
            .ToDictionary(q => DetailQueryNames.Prefix + q.Name, q => q.Sql);

        return new DistributedReadResult(true, queries);
    }

    async Task<bool> IHostGrain.WriteAsync(string nodeSecret, DetailResults results)
    {
        if (!CheckIn(nodeSecret, "distributed_write"))
        {
            return false;
        }

        if (results.IsEmpty)
        {
            return true;
        }

        var now = time.GetUtcNow();
        var before = State.Details ?? new HostDetails { HardwareUuid = HostId };
        var after = DetailIngest.FromResults(before, results);
        State.Details = after;
        State.DetailUpdatedAt = now;
        _unsavedCheckIn = true;
        var profilesChanged = DetailIngest.InstalledProfiles(results) is { } installed
            && OnInstalledProfiles(installed, OsquerySource, now);

        var verdict = ResultsJudge.Judge(results, after.Platform);
        var step = await StepAsync(
            new RefetchEvent.ResultsReceived(verdict.Complete, verdict.Failure),
            alsoPersistIf: after != before || profilesChanged);
        if (!step.Changed && after == before && !profilesChanged)
        {
            LogUnchangedDetails(HostId);
        }

        return true;
    }

    async Task<RefetchRequestResult> IHostGrain.RequestRefetchAsync()
    {
        if (!State.Enrolled)
        {
            return new RefetchRequestResult(RefetchOutcome.UnknownHost, null);
        }

        var step = await StepAsync(new RefetchEvent.Requested());
        var outcome = step.Changed ? RefetchOutcome.Started : RefetchOutcome.AlreadyInFlight;

        return new RefetchRequestResult(outcome, State.Refetch!.ToView(HostId));
    }

    Task<HostView?> IHostGrain.GetAsync()
    {
        if (!State.Enrolled)
        {
            return Task.FromResult<HostView?>(null);
        }

        var view = new HostView(
            HostId,
            State.Details ?? new HostDetails { HardwareUuid = HostId },
            State.EnrolledAt!.Value,
            State.LastSeenAt,
            State.DetailUpdatedAt,
            State.Refetch?.ToView(HostId),
            [.. State.Transitions],
            State.Revision,
            State.TeamId,
            OsSettingsStatus(),
            ProfileViews(),
            Mdm: null);

        return Task.FromResult<HostView?>(view);
    }

    // Placeholders while the MDM work lands (issue 3); replaced by the real implementation before commit.
    Task<MdmCheckInResult> IHostGrain.MdmCheckInAsync(MdmCheckIn checkIn) => throw new NotSupportedException();

    Task<MdmReportResult> IHostGrain.MdmReportAsync(MdmReport report) => throw new NotSupportedException();

    async Task IRemindable.ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != DeadlineReminder)
        {
            return;
        }

        // At-least-once, and possibly registered by an earlier activation: the stored deadline decides.
        await CheckDeadlineAsync();
    }

    private async Task CheckDeadlineAsync()
    {
        if (State.Refetch is not { InFlight: true, Deadline: { } deadline })
        {
            await RemoveReminderAsync();
            return;
        }

        if (time.GetUtcNow() < deadline)
        {
            ArmTimer(deadline);
            return;
        }

        metrics.DeadlineExpired();
        await StepAsync(new RefetchEvent.DeadlineReached(State.LastSeenAt));
    }

    /// <summary>
    /// Runs one event through the machine. A new deadline gets its reminder before the state that needs
    /// it is written; a finished refetch loses its reminder only after the terminal state is written.
    /// Either crash window leaves a reminder too many, never one too few.
    /// </summary>
    private async Task<RefetchStep> StepAsync(RefetchEvent evt, bool alsoPersistIf = false)
    {
        var step = RefetchMachine.Apply(State.Refetch, evt, CurrentPolicy(), time.GetUtcNow());
        if (step.Changed)
        {
            if (step.Deadline == DeadlineAction.Arm && _reminder is null)
            {
                _reminder = await RegisterReminderAsync();
            }

            State.Refetch = step.Refetch;
            if (step.Transition is { } transition)
            {
                Record(transition);
            }
        }

        if ((step.Changed && step.MustPersist) || alsoPersistIf)
        {
            await PersistAsync();
        }
        else if (step.Changed)
        {
            _unsavedCheckIn = true;
            PublishToIndex();
        }

        if (step.Changed)
        {
            if (step.Deadline == DeadlineAction.Arm && step.Refetch?.Deadline is { } deadline)
            {
                ArmTimer(deadline);
            }
            else if (step.Deadline == DeadlineAction.Disarm)
            {
                _deadlineTimer?.Dispose();
                _deadlineTimer = null;
                await RemoveReminderAsync();
            }
        }

        return step;
    }

    private bool CheckIn(string nodeSecret, string endpoint)
    {
        if (State.NodeSecretHash is not { } expected
            || !CryptographicOperations.FixedTimeEquals(Hash(nodeSecret), expected))
        {
            LogNodeKeyRejected(HostId, endpoint);
            return false;
        }

        State.LastSeenAt = time.GetUtcNow();
        _unsavedCheckIn = true;
        metrics.CheckIn(endpoint);
        LogCheckIn(HostId, endpoint);

        return true;
    }

    private void Record(Transition transition)
    {
        State.Transitions.Add(transition);
        if (State.Transitions.Count > HistoryLimit)
        {
            State.Transitions.RemoveRange(0, State.Transitions.Count - HistoryLimit);
        }

        State.StatusChangedAt = transition.At;
        metrics.Transition(transition, State.Details?.Platform);
        LogTransition(
            HostId,
            transition.Epoch,
            Words.Of(transition.From),
            Words.Of(transition.To),
            transition.Reason?.Code ?? "none",
            transition.Reason?.Message ?? string.Empty);
    }

    private async Task PersistAsync(bool publish = true)
    {
        State.Revision++;
        try
        {
            await store.WriteStateAsync();
        }
        catch (Exception exception)
        {
            // Memory is now ahead of storage. Drop this activation so the next call starts from what was stored.
            LogPersistFailed(HostId, exception);
            DeactivateOnIdle();
            throw;
        }

        _unsavedCheckIn = false;
        metrics.StorageWrite(StorageWriteKind.GrainState);
        if (publish)
        {
            PublishToIndex();
        }
    }

    private void PublishToIndex()
    {
        var details = State.Details;
        var entry = new HostIndexEntry(
            HostId,
            State.Revision,
            State.Refetch?.Status ?? RefetchStatus.None,
            details?.Platform,
            details?.OsVersion,
            details?.Hostname,
            details?.Serial,
            State.LastSeenAt,
            State.StatusChangedAt ?? State.EnrolledAt ?? time.GetUtcNow(),
            State.Refetch?.Reason,
            State.TeamId,
            OsSettingsStatus());

        // One-way: the index catches up on the next change or activation if this message is lost.
        _ = GrainFactory.GetGrain<IHostIndexShardGrain>(HostIndex.ShardOf(HostId)).PublishAsync(entry);
    }

    private void ArmTimer(DateTimeOffset deadline)
    {
        var due = deadline - time.GetUtcNow();
        if (due < TimeSpan.Zero)
        {
            due = TimeSpan.Zero;
        }

        if (_deadlineTimer is null)
        {
            _deadlineTimer = this.RegisterGrainTimer(
                static (grain, _) => grain.CheckDeadlineAsync(),
                this,
                new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan));
        }
        else
        {
            _deadlineTimer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task<IGrainReminder> RegisterReminderAsync()
    {
        var period = options.CurrentValue.ReminderPeriod;
        var reminder = await this.RegisterOrUpdateReminder(DeadlineReminder, period, period);
        metrics.StorageWrite(StorageWriteKind.Reminder);

        return reminder;
    }

    private async Task RemoveReminderAsync()
    {
        _reminder ??= await this.GetReminder(DeadlineReminder);
        if (_reminder is null)
        {
            return;
        }

        try
        {
            await this.UnregisterReminder(_reminder);
            metrics.StorageWrite(StorageWriteKind.Reminder);
        }
        catch (ReminderException exception)
        {
            // Already gone or changed by another activation; a stray tick will find nothing in flight.
            LogReminderRemovalFailed(HostId, exception);
        }

        _reminder = null;
    }

    private RefetchPolicy CurrentPolicy()
    {
        var name = State.Refetch is { InFlight: true } refetch
            ? refetch.Policy
            : RefetchPolicy.NameFor(State.Details ?? new HostDetails());
        var policies = options.CurrentValue.Policies;
        var settings = policies.GetValueOrDefault(name) ?? new RefetchPolicyOptions();

        return RefetchPolicy.From(name, settings);
    }

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static readonly IReadOnlyDictionary<string, string> EmptyQueries = new Dictionary<string, string>();

    [LoggerMessage(EventId = 100, Level = LogLevel.Information,
        Message = "Host {HostId} epoch {Epoch}: {From} -> {To} (reason {ReasonCode}) {ReasonMessage}")]
    private partial void LogTransition(string hostId, int epoch, string from, string to, string reasonCode, string reasonMessage);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information,
        Message = "Host {HostId} enrolled: platform {Platform}, OS {OsVersion}, re-enrollment {ReEnrolled}")]
    private partial void LogEnrolled(string hostId, string? platform, string? osVersion, bool reEnrolled);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Host {HostId}: node key refused on {Endpoint}")]
    private partial void LogNodeKeyRejected(string hostId, string endpoint);

    [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "Host {HostId}: check-in on {Endpoint}")]
    private partial void LogCheckIn(string hostId, string endpoint);

    [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Host {HostId}: results changed nothing; not written")]
    private partial void LogUnchangedDetails(string hostId);

    [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "Host {HostId}: state write failed; the change was not acknowledged")]
    private partial void LogPersistFailed(string hostId, Exception exception);

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Host {HostId}: could not flush last-seen time on deactivation")]
    private partial void LogLastSeenFlushFailed(string hostId, Exception exception);

    [LoggerMessage(EventId = 107, Level = LogLevel.Debug, Message = "Host {HostId}: deadline reminder was already removed")]
    private partial void LogReminderRemovalFailed(string hostId, Exception exception);
}
