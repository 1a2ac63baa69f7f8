using System.Security.Cryptography;
using System.Text;
using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Mdm.Identity;
using Fleet.Grains.Osquery;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Logging;
using Orleans.Core;
using Orleans.Runtime;

namespace Fleet.Grains.Hosts;

/// <summary>
/// One machine's truth. Check-ins that change nothing stay in memory; real changes are persisted before
/// they are acknowledged. The host has one wake-up: the earliest of its refetch deadline, its next re-push,
/// its profile deadlines and its identity certificate's next step. A grain timer fires at it while the grain
/// is active. The first three are also durable in the host's index entry, saved there before the state
/// that needs them, and the shard's sweep re-activates the host when one is overdue (after a crash or a
/// deactivation); the identity's steps, weeks apart, have a reminder of their own registered for the next one.
/// </summary>
internal sealed partial class HostGrain(HostGrainServices services, ILogger<HostGrain> logger) : Grain, IHostGrain, IRemindable
{
    public const int HistoryLimit = 50;

    // The per-host reminder of earlier versions, before index shards kept wake-ups: one still stored wakes
    // the host once and is removed.
    private const string LegacyWakeReminder = "refetch-deadline";

    // A timer cannot wait for months (an identity's expiry): a later wake-up is reached in steps.
    private static readonly TimeSpan s_maxTimerDue = TimeSpan.FromDays(1);

    private IGrainTimer? _wakeTimer;

    // The durable wake-up of the state last stored (or loaded), and the latest wake-up the index shard may
    // hold durably for this host (MaxValue: none, or not known in this activation). A write whose wake-up is
    // earlier than the latter saves it with the shard first.
    private DateTimeOffset? _storedWake;
    private DateTimeOffset _shardWakeCeiling = DateTimeOffset.MaxValue;

    // True while state changed in memory but not in storage: last-seen and detail times, or the
    // transient Verifying status. The next real write, or deactivation, carries it.
    private bool _unsavedCheckIn;

    // True once a write, or the saving of its wake-up before it, failed: memory holds a change nobody acknowledged,
    // and the activation is on its way out. It must store and hand out nothing more, not even on deactivation.
    private bool _aheadOfStorage;

    // Refetch transitions made since the last host event; they go out with the next publish. Null while there are
    // none, which is most of an activation's life: an empty list per active host is memory for nothing.
    private List<Transition>? _unannounced;

    // Read in OnActivateAsync through Orleans' own storage bridge (its error handling and storage metrics kept), not
    // an injected IPersistentState: that one creates the activation's lifecycle and migration lists to read itself,
    // about 230 bytes per active host (see "Memory per active host" in docs/architecture.md). The cost: the state
    // does not travel with a migrating activation; the new one reads it from storage, as after any deactivation.
    private StateStorageBridge<HostState>? _store;

    private HostState State => _store!.State;

    // Decoded from the key when needed rather than kept: a string per active host costs more memory than the
    // decoding costs time. For the same reason the node secret is hashed on every check-in, not remembered.
    private string HostId => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _store = new StateStorageBridge<HostState>(FleetStorage.HostStateName, GrainContext, services.StateStorage);
        await _store.ReadStateAsync();
        State.Compact();
        if (State.Enrolled)
        {
            ShareCommonStrings();

            // A team change lost while the host was away is pulled first, so the wake-ups below include its deadlines.
            await OnProfilesActivateAsync();
            _storedWake = DurableWakeAt();
            Rearm();

            // Activation changes nothing: the index hears of it (it may have missed an update), listeners do not.
            PublishToIndex(announce: false);
        }

        // Last, so a failed or abandoned activation is never listed: it would never deactivate to leave.
        if (!cancellationToken.IsCancellationRequested)
        {
            services.IndexRecovery.Activated(this);
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Deactivated because the silo keeping its directory entry is going: that silo may hold its shard too.
        var displaced = reason.ReasonCode == DeactivationReasonCode.DirectoryFailure && State.Enrolled && !_aheadOfStorage
            ? IndexEntry()
            : null;
        services.IndexRecovery.Deactivated(this, displaced);

        // The next activation will not know of the lease, so it ends with this one.
        await RevokeLeaseAsync();

        // Not when ahead of storage: the last-seen write would store the refused change with it (found by a
        // break test: a refetch answered 503 "nothing was changed" ran anyway after its shard's silo was killed).
        // No index publish: at shutdown the shard may already be gone, and the next activation publishes.
        if (_unsavedCheckIn && State.Enrolled && !_aheadOfStorage)
        {
            await services.DeactivationFlushes.FlushAsync(HostId, StoreAsync, cancellationToken);
        }
    }

    async Task<EnrollResult> IHostGrain.EnrollAsync(EnrollRequest request)
    {
        var now = services.Time.GetUtcNow();
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var reEnrolled = State.Enrolled;

        State.Details = DetailIngest.FromEnrollment(HostId, request.HostDetails, State.Details);
        State.EnrolledAt ??= now;
        State.NodeSecretHash = Hash(secret);
        State.LastSeenAt = now;
        State.StatusChangedAt ??= now;
        await PersistAsync();

        // The earlier key must stop working at once, also where an Api process answers it alone.
        await RevokeLeaseAsync();

        LogEnrolled(HostId, State.Details.Platform, State.Details.OsVersion, reEnrolled);

        return new EnrollResult(NodeKeys.Compose(HostId, secret));
    }

    Task<bool> IHostGrain.GetConfigAsync(string nodeSecret) => Task.FromResult(CheckIn(nodeSecret, "config"));

    Task<bool> IHostGrain.LogAsync(string nodeSecret) => Task.FromResult(CheckIn(nodeSecret, "log"));

    Task<HostIndexEntry?> IHostGrain.RepublishAsync() =>
        Task.FromResult(State.Enrolled ? PublishToIndex(announce: false) : null);

    // The caller sends it on, so it counts as sent.
    Task<HostIndexEntry?> IHostGrain.GetIndexEntryAsync() =>
        Task.FromResult(State.Enrolled && !_aheadOfStorage ? EntryToSend() : null);

    async Task IHostGrain.WakeAsync()
    {
        if (!State.Enrolled)
        {
            return;
        }

        await RunWakeUpsAsync();

        // The shard woke this host because a wake-up it holds fell due: what is stored now replaces it.
        _ = IndexShard.PublishAfterWakeAsync(EntryToSend());
    }

    async Task<DistributedReadResult> IHostGrain.ReadAsync(string nodeSecret, ICheckInLeaseHolder? leaseHolder)
    {
        if (!CheckIn(nodeSecret, "distributed_read"))
        {
            return DistributedReadResult.Invalid;
        }

        if (State.Refetch is not { OsqueryOwed: true })
        {
            return NothingOwed(leaseHolder);
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

        var now = services.Time.GetUtcNow();
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

        var step = await StepAsync(RequestedEvent());
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
            MdmView())
        {
            Identity = IdentityView(),
        };

        return Task.FromResult<HostView?>(view);
    }


    async Task IRemindable.ReceiveReminder(string reminderName, TickStatus status)
    {
        // At-least-once, and possibly registered by an earlier activation: the stored wake-ups decide.
        if (reminderName == LegacyWakeReminder)
        {
            await RunWakeUpsAsync();
            await UnregisterAsync(await this.GetReminder(LegacyWakeReminder));
        }
        else if (reminderName == IdentityReminder)
        {
            await RunWakeUpsAsync(fromIdentityReminder: true);
        }
    }

    /// <summary>
    /// The timer or a reminder fired: runs the identity's due step (expiry first fails the MDM work), a due
    /// refetch deadline and the due profile deadlines, writes what they changed, then pushes if a push is due,
    /// and re-arms for the next wake-up.
    /// </summary>
    private async Task RunWakeUpsAsync(bool fromIdentityReminder = false)
    {
        var now = services.Time.GetUtcNow();
        var mustPersist = OnIdentityDue(now);
        var publish = false;
        if (State.Refetch is { InFlight: true, Deadline: { } deadline } && now >= deadline)
        {
            services.Metrics.DeadlineExpired();
            var step = Advance(new RefetchEvent.DeadlineReached(State.LastSeenAt, MdmActivity()));
            mustPersist |= step.Changed && step.MustPersist;
            publish |= step.Changed;
        }

        mustPersist |= OnProfileDeadlines(now);
        if (mustPersist)
        {
            await PersistAsync();
        }
        else if (publish)
        {
            await SaveAsync(persist: false, publish: true);
        }

        if (PushDue(now) && await PushAsync(now))
        {
            await PersistAsync();
        }

        await SyncIdentityReminderAsync(fromIdentityReminder);
        Rearm();
    }

    /// <summary>Runs one event through the machine and writes (or keeps in memory) what it changed.</summary>
    private async Task<RefetchStep> StepAsync(RefetchEvent evt, bool alsoPersistIf = false)
    {
        var step = Advance(evt);
        await SaveAsync(persist: (step.Changed && step.MustPersist) || alsoPersistIf, publish: step.Changed);

        return step;
    }

    /// <summary>Applies one event to the refetch in memory: its record, its transition and its MDM effects.</summary>
    private RefetchStep Advance(RefetchEvent evt)
    {
        var step = RefetchMachine.Apply(State.Refetch, evt, CurrentPolicy(), services.Time.GetUtcNow());
        if (!step.Changed)
        {
            return step;
        }

        foreach (var part in RefetchRetries.Between(State.Refetch, step.Refetch))
        {
            services.Metrics.Retried(part, State.Details?.Platform);
        }

        State.Refetch = step.Refetch;
        if (step.Transition is { } transition)
        {
            Record(transition);
        }

        RunMdmEffects(step);

        return step;
    }

    /// <summary>
    /// Writes the state, or keeps a transient change in memory (it rides along with the next write), and
    /// re-arms the wake-up either way.
    /// </summary>
    private async Task SaveAsync(bool persist, bool publish)
    {
        if (persist)
        {
            await PersistAsync();
            return;
        }

        _unsavedCheckIn = true;
        State.Compact();
        if (publish)
        {
            PublishToIndex();
        }

        Rearm();
    }

    private bool CheckIn(string nodeSecret, string endpoint)
    {
        if (!SecretMatches(nodeSecret))
        {
            LogNodeKeyRejected(HostId, endpoint);
            return false;
        }

        State.LastSeenAt = services.Time.GetUtcNow();
        _unsavedCheckIn = true;
        services.Metrics.CheckIn(endpoint);
        LogCheckIn(HostId, endpoint);

        return true;
    }

    private bool SecretMatches(string nodeSecret) =>
        State.NodeSecretHash is { } expected && CryptographicOperations.FixedTimeEquals(Hash(nodeSecret), expected);

    private void Record(Transition transition)
    {
        State.Transitions.Add(transition);
        if (State.Transitions.Count > HistoryLimit)
        {
            State.Transitions.RemoveRange(0, State.Transitions.Count - HistoryLimit);
        }

        // A retry (pending -> pending) keeps the time the status was entered: "pending for" counts from the request.
        if (transition.From != transition.To)
        {
            State.StatusChangedAt = transition.At;
        }

        (_unannounced ??= []).Add(transition);
        services.Metrics.Transition(transition, State.Details?.Platform);
        if (transition.To == RefetchStatus.Verified && State.Refetch is { } refetch)
        {
            services.Metrics.Verified(transition.At - refetch.RequestedAt, State.Details?.Platform, refetch.Policy);
        }

        LogTransition(
            HostId,
            transition.Epoch,
            Words.Of(transition.From),
            Words.Of(transition.To),
            transition.Reason?.Code ?? "none",
            transition.Reason?.Message ?? string.Empty);
    }

    /// <summary>
    /// Writes the state. A wake-up earlier than the index shard may hold is saved there before the state that
    /// needs it is written; one no longer needed leaves with the publish after the write, saved in the shard's
    /// next batch. Either crash window leaves the shard a wake-up too early or too many (the host, woken,
    /// finds nothing due and says so), never one too late.
    /// </summary>
    private async Task PersistAsync()
    {
        try
        {
            await TrackWakeAsync();
            await RegisterIdentityReminderIfNeededAsync();
        }
        catch (Exception exception)
        {
            // The change is in memory only, and no reminder would wake it after a crash: drop this activation as
            // for a failed write, so nothing unacknowledged is stored later or shown meanwhile (found by the
            // chaos suite: a refetch refused during a storage outage stayed pending past its deadline).
            Abandon(exception);
            throw;
        }

        var releaseIdentityReminder = ReleaseIdentityReminder();
        await WriteStateAsync();
        PublishToIndex();
        if (releaseIdentityReminder)
        {
            await RemoveIdentityReminderAsync();
        }

        Rearm();
    }

    private async Task WriteStateAsync()
    {
        try
        {
            await StoreAsync();
        }
        catch (Exception exception)
        {
            Abandon(exception);
            throw;
        }

        _storedWake = DurableWakeAt();
    }

    /// <summary>
    /// Stores the state as it is in memory, with the next revision. A deactivating host calls it alone, through the
    /// silo's <see cref="DeactivationFlushes"/>: what changed since its last write only rides along with one (last-seen
    /// and detail times, the transient Verifying status and the like), so a failure is the gate's to count and log, and
    /// the activation is leaving anyway.
    /// </summary>
    private async Task StoreAsync()
    {
        State.Revision++;
        State.Compact();
        await _store!.WriteStateAsync();
        _unsavedCheckIn = false;
        services.Metrics.StorageWrite(StorageWriteKind.GrainState);
    }

    /// <summary>Memory is ahead of storage: drops this activation so the next call starts from what was stored.</summary>
    private void Abandon(Exception exception)
    {
        LogPersistFailed(HostId, exception);
        _aheadOfStorage = true;
        DeactivateOnIdle();
    }

    /// <summary>
    /// Saves the wake-up of the state about to be written with the index shard, unless the shard may already
    /// hold one no later. Batched by the shard with other hosts' entries, so most refetches share the write.
    /// </summary>
    private async Task TrackWakeAsync()
    {
        if (DurableWakeAt() is not { } wakeAt || wakeAt >= _shardWakeCeiling)
        {
            return;
        }

        await IndexShard.TrackWakeAsync(IndexEntry(), wakeAt);
        _shardWakeCeiling = wakeAt;
    }

    /// <summary>The earliest wake-up a crash must not lose: a refetch deadline, a re-push, a profile deadline.</summary>
    private DateTimeOffset? DurableWakeAt()
    {
        DateTimeOffset? next = State.Refetch is { InFlight: true, Deadline: { } deadline } ? deadline : null;
        next = WakeTimes.Earliest(next, NextPushWakeAt(services.Time.GetUtcNow()));

        return WakeTimes.Earliest(next, NextProfileDeadline());
    }

    /// <summary>The earliest wake-up, or null when nothing waits.</summary>
    private DateTimeOffset? NextWakeAt() => WakeTimes.Earliest(DurableWakeAt(), IdentityWakeAt());

    private void Rearm()
    {
        if (NextWakeAt() is { } wakeAt)
        {
            ArmTimer(wakeAt);
        }
        else
        {
            _wakeTimer?.Dispose();
            _wakeTimer = null;
        }
    }

    /// <summary>
    /// Sends the host's indexed fields to its index shard and, unless <paramref name="announce"/> is false,
    /// a host event to this silo's event sinks. Returns the entry sent.
    /// </summary>
    private HostIndexEntry PublishToIndex(bool announce = true)
    {
        var entry = EntryToSend();

        // One-way: the index catches up on the next change or activation if this message is lost.
        _ = IndexShard.PublishAsync(entry);

        if (announce)
        {
            Announce(entry);
        }

        return entry;
    }

    private IHostIndexShardGrain IndexShard => GrainFactory.GetGrain<IHostIndexShardGrain>(HostIndex.ShardOf(HostId));

    /// <summary>
    /// The host's indexed fields at its current revision. The wake-up is never later than the stored one: a
    /// transient change (Verifying) that moves the deadline later is not stored, and a crash would bring the
    /// earlier one back.
    /// </summary>
    private HostIndexEntry IndexEntry()
    {
        var details = State.Details;
        return new HostIndexEntry(
            HostId,
            State.Revision,
            State.Refetch?.Status ?? RefetchStatus.None,
            details?.Platform,
            details?.OsVersion,
            details?.Hostname,
            details?.Serial,
            State.LastSeenAt,
            State.StatusChangedAt ?? State.EnrolledAt ?? services.Time.GetUtcNow(),
            State.Refetch?.Reason,
            State.TeamId,
            OsSettingsStatus(),
            State.Identity?.Current.NotAfter,
            State.Identity is { } identity ? RenewalMachine.StateOf(identity) : null,
            State.Refetch?.JobId,
            WakeTimes.Earliest(DurableWakeAt(), _storedWake));
    }

    /// <summary>
    /// The entry, noted as sent to the shard. The shard takes a later wake-up lazily, so it may keep the latest one
    /// sent until its next save.
    /// </summary>
    private HostIndexEntry EntryToSend()
    {
        var entry = IndexEntry();
        var sent = entry.WakeAt ?? DateTimeOffset.MaxValue;
        if (sent > _shardWakeCeiling)
        {
            _shardWakeCeiling = sent;
        }

        return entry;
    }

    private void Announce(HostIndexEntry entry)
    {
        if (services.EventSinks.Length > 0)
        {
            List<Transition> transitions = _unannounced ?? [];
            var hostEvent = new HostEvent(entry, [.. transitions], AlertOf(transitions), services.Time.GetUtcNow());
            foreach (var sink in services.EventSinks)
            {
                sink.Publish(hostEvent);
            }
        }

        _unannounced = null;
    }

    /// <summary>
    /// Failed when the newest of these transitions reaches Failed; Recovered when it reaches Verified and the
    /// last refetch that ended before its epoch had Failed.
    /// </summary>
    private HostAlert AlertOf(List<Transition> transitions)
    {
        if (transitions.Count == 0)
        {
            return HostAlert.None;
        }

        var newest = transitions[^1];
        if (newest.To == RefetchStatus.Failed)
        {
            return HostAlert.Failed;
        }

        if (newest.To != RefetchStatus.Verified)
        {
            return HostAlert.None;
        }

        var previousEnd = State.Transitions.LastOrDefault(t =>
            t.Epoch < newest.Epoch && t.To is RefetchStatus.Verified or RefetchStatus.Failed);

        return previousEnd?.To == RefetchStatus.Failed ? HostAlert.Recovered : HostAlert.None;
    }

    private void ArmTimer(DateTimeOffset wakeAt)
    {
        var due = wakeAt - services.Time.GetUtcNow();
        if (due < TimeSpan.Zero)
        {
            due = TimeSpan.Zero;
        }
        else if (due > s_maxTimerDue)
        {
            due = s_maxTimerDue;
        }

        if (_wakeTimer is null)
        {
            _wakeTimer = this.RegisterGrainTimer(
                static (grain, _) => grain.RunWakeUpsAsync(),
                this,
                new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan));
        }
        else
        {
            _wakeTimer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task UnregisterAsync(IGrainReminder? reminder)
    {
        if (reminder is null)
        {
            return;
        }

        try
        {
            await this.UnregisterReminder(reminder);
            services.Metrics.StorageWrite(StorageWriteKind.Reminder);
        }
        catch (ReminderException exception)
        {
            // Already gone or changed by another activation; a stray tick will find nothing waiting.
            LogReminderRemovalFailed(HostId, exception);
        }
    }

    private RefetchPolicy CurrentPolicy()
    {
        var name = State.Refetch is { InFlight: true } refetch
            ? refetch.Policy
            : RefetchPolicy.NameFor(State.Details ?? new HostDetails());
        var policies = services.Refetch.CurrentValue.Policies;
        var settings = policies.GetValueOrDefault(name) ?? new RefetchPolicyOptions();

        return RefetchPolicy.From(name, settings);
    }

    /// <summary>An operator's (or a job's) request, with what the host's enrollments make of it.</summary>
    private RefetchEvent.Requested RequestedEvent() =>
        new(MdmReady ? NewCommandUuid() : null, OsqueryEnrolled: State.NodeSecretHash is not null);

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

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

    [LoggerMessage(EventId = 107, Level = LogLevel.Debug, Message = "Host {HostId}: wake-up reminder was already removed")]
    private partial void LogReminderRemovalFailed(string hostId, Exception exception);
}
