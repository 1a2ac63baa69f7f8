using System.Diagnostics.Metrics;
using Fleet.Contracts;
using Fleet.Grains.Hosts;
using Fleet.Grains.Mdm;

namespace Fleet.Grains.Diagnostics;

/// <summary>Where a storage write went. Each is one request to Azure Table storage.</summary>
public enum StorageWriteKind
{
    GrainState,
    Reminder,
    Index,
}

/// <summary>
/// The silo's own instruments (meter <c>Fleet.Orleans</c>), plus running totals of storage writes that
/// the silo's debug endpoint and the tests read directly.
/// </summary>
public sealed class FleetMetrics
{
    public const string MeterName = "Fleet.Orleans";

    private readonly Counter<long> _storageWrites;
    private readonly Counter<long> _transitions;
    private readonly Counter<long> _deadlinesExpired;
    private readonly Counter<long> _sweepWakes;
    private readonly Counter<long> _lastSeenFlushes;
    private readonly Counter<long> _checkIns;
    private readonly Counter<long> _leasesGranted;
    private readonly Counter<long> _leasesRevoked;
    private readonly Counter<long> _mdmReports;
    private readonly Counter<long> _pushes;
    private readonly Counter<long> _pushFailures;
    private readonly Counter<long> _profileTransitions;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _indexRepairs;
    private readonly Counter<long> _indexRestores;
    private readonly Histogram<double> _timeToVerified;
    private readonly Counter<long> _jobRequests;
    private readonly Counter<long> _jobsStarted;
    private readonly Counter<long> _jobsFinished;
    private readonly long[] _writeTotals = new long[Enum.GetValues<StorageWriteKind>().Length];
    private readonly long[] _flushTotals = new long[Enum.GetValues<DeactivationFlush>().Length];

    public FleetMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _storageWrites = meter.CreateCounter<long>("fleet.storage.writes", "{write}", "Writes to Azure Table storage, by kind.");
        _transitions = meter.CreateCounter<long>("fleet.refetch.transitions", "{transition}", "Refetch status changes.");
        _deadlinesExpired = meter.CreateCounter<long>("fleet.refetch.deadlines_expired", "{deadline}", "Refetch deadlines that passed.");
        _sweepWakes = meter.CreateCounter<long>(
            "fleet.hosts.sweep_wakes", "{host}", "Hosts an index shard's sweep woke because their wake-up was overdue (after a crash or deactivation).");
        _lastSeenFlushes = meter.CreateCounter<long>(
            "fleet.hosts.last_seen_flushes", "{host}",
            "Deactivating hosts that owed a last-seen write, by outcome: stored, failed, or skipped (no write turn within half of Orleans' deactivation timeout).");
        _checkIns = meter.CreateCounter<long>("fleet.agent.checkins", "{request}", "Agent requests reaching a host grain, by endpoint.");
        _leasesGranted = meter.CreateCounter<long>(
            "fleet.agent.leases_granted", "{lease}", "Check-in leases hosts granted: an Api process answers their quiet reads alone for a while.");
        _leasesRevoked = meter.CreateCounter<long>(
            "fleet.agent.leases_revoked", "{lease}", "Check-in leases hosts revoked because they came to owe queries, by whether the holder answered.");
        _mdmReports = meter.CreateCounter<long>("fleet.mdm.reports", "{report}", "MDM command-channel reports, by status.");
        _pushes = meter.CreateCounter<long>("fleet.mdm.pushes", "{push}", "MDM pushes delivered to the push service.");
        _pushFailures = meter.CreateCounter<long>("fleet.mdm.push_failures", "{push}", "MDM pushes that failed, by kind.");
        _profileTransitions = meter.CreateCounter<long>(
            "fleet.profile.transitions", "{transition}", "Configuration profile status changes, by the status reached (none: removed).");
        _retries = meter.CreateCounter<long>(
            "fleet.refetch.retries", "{retry}", "Refetch attempts after the first, by part (osquery or mdm) and platform.");
        _jobRequests = meter.CreateCounter<long>(
            "fleet.refetch_jobs.requests", "{request}", "Refetch requests bulk jobs sent to hosts, by how the host took them.");
        _jobsStarted = meter.CreateCounter<long>("fleet.refetch_jobs.started", "{job}", "Bulk refetch jobs started.");
        _jobsFinished = meter.CreateCounter<long>(
            "fleet.refetch_jobs.finished", "{job}", "Bulk refetch jobs that ended, by outcome (completed or cancelled).");
        _indexRepairs = meter.CreateCounter<long>(
            "fleet.index.repaired_entries", "{entry}", "Index entries a shard repair added, updated or removed, by change.");
        _indexRestores = meter.CreateCounter<long>(
            "fleet.index.restored_entries", "{entry}",
            "Index entries a shard lacked or held behind when live hosts sent theirs again after a silo died.");
        _timeToVerified = meter.CreateHistogram(
            "fleet.refetch.time_to_verified",
            "s",
            "Seconds from a refetch request to Verified, by platform and policy.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TimeToVerifiedBuckets });
    }

    /// <summary>Bucket bounds, in seconds, from a quick agent (1 s) to a device asleep for an hour.</summary>
    public static readonly double[] TimeToVerifiedBuckets = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

    public void StorageWrite(StorageWriteKind kind)
    {
        Interlocked.Increment(ref _writeTotals[(int)kind]);
        _storageWrites.Add(1, new KeyValuePair<string, object?>("kind", Name(kind)));
    }

    public long StorageWrites(StorageWriteKind kind) => Interlocked.Read(ref _writeTotals[(int)kind]);

    public long TotalStorageWrites => Enum.GetValues<StorageWriteKind>().Sum(StorageWrites);

    public IReadOnlyDictionary<string, long> StorageWriteTotals() =>
        Enum.GetValues<StorageWriteKind>().ToDictionary(Name, StorageWrites);

    public void Transition(Transition transition, string? platform) =>
        _transitions.Add(
            1,
            new KeyValuePair<string, object?>("from", Words.Of(transition.From)),
            new KeyValuePair<string, object?>("to", Words.Of(transition.To)),
            new KeyValuePair<string, object?>("platform", Platforms.Label(platform)),
            new KeyValuePair<string, object?>("reason_class", ReasonClasses.Of(transition.Reason)));

    public void Retried(string part, string? platform) =>
        _retries.Add(
            1,
            new KeyValuePair<string, object?>("part", part),
            new KeyValuePair<string, object?>("platform", Platforms.Label(platform)));

    public void Verified(TimeSpan sinceRequest, string? platform, string policy) =>
        _timeToVerified.Record(
            Math.Max(0, sinceRequest.TotalSeconds),
            new KeyValuePair<string, object?>("platform", Platforms.Label(platform)),
            new KeyValuePair<string, object?>("policy", policy));

    public void ProfileTransition(ProfileTransition transition) =>
        _profileTransitions.Add(
            1,
            new KeyValuePair<string, object?>("to", Words.Of(transition.To)),
            new KeyValuePair<string, object?>("operation", Words.Of(transition.Operation)));

    public void RefetchJobRequest(RefetchOutcome outcome) =>
        _jobRequests.Add(1, new KeyValuePair<string, object?>("outcome", outcome switch
        {
            RefetchOutcome.Started => "started",
            RefetchOutcome.AlreadyInFlight => "adopted",
            RefetchOutcome.AlreadyRequested => "already_requested",
            _ => "unknown_host",
        }));

    public void RefetchJobStarted() => _jobsStarted.Add(1);

    public void RefetchJobFinished(RefetchJobState outcome) =>
        _jobsFinished.Add(1, new KeyValuePair<string, object?>("outcome", outcome == RefetchJobState.Cancelled ? "cancelled" : "completed"));
    /// <summary>Counts what one shard repair changed.</summary>
    public void IndexRepaired(int added, int updated, int removed)
    {
        _indexRepairs.Add(added, new KeyValuePair<string, object?>("change", "added"));
        _indexRepairs.Add(updated, new KeyValuePair<string, object?>("change", "updated"));
        _indexRepairs.Add(removed, new KeyValuePair<string, object?>("change", "removed"));
    }

    /// <summary>Counts entries a shard corrected from the ones hosts sent again after a silo died.</summary>
    public void IndexRestored(int entries) => _indexRestores.Add(entries);

    public void DeadlineExpired() => _deadlinesExpired.Add(1);

    public void HostsWokenBySweep(int hosts) => _sweepWakes.Add(hosts);

    internal void LastSeenFlush(DeactivationFlush outcome)
    {
        Interlocked.Increment(ref _flushTotals[(int)outcome]);
        _lastSeenFlushes.Add(1, new KeyValuePair<string, object?>("outcome", Name(outcome)));
    }

    /// <summary>Deactivating hosts' last-seen writes since the silo started, by outcome (stored, failed, skipped).</summary>
    public IReadOnlyDictionary<string, long> LastSeenFlushTotals() =>
        Enum.GetValues<DeactivationFlush>().ToDictionary(Name, outcome => Interlocked.Read(ref _flushTotals[(int)outcome]));

    public void LeaseGranted() => _leasesGranted.Add(1);

    public void LeaseRevoked(bool delivered) => _leasesRevoked.Add(1, new KeyValuePair<string, object?>("delivered", delivered));

    public void CheckIn(string endpoint) => _checkIns.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint));

    public void MdmReport(MdmResultStatus status) =>
        _mdmReports.Add(1, new KeyValuePair<string, object?>("status", Words.Of(status)));

    public void PushSent() => _pushes.Add(1);

    public void PushFailed(PushFailureKind kind) =>
        _pushFailures.Add(1, new KeyValuePair<string, object?>("kind", Words.Of(kind)));

    private static string Name(DeactivationFlush outcome) => outcome switch
    {
        DeactivationFlush.Stored => "stored",
        DeactivationFlush.Failed => "failed",
        _ => "skipped",
    };

    private static string Name(StorageWriteKind kind) => kind switch
    {
        StorageWriteKind.GrainState => "grain_state",
        StorageWriteKind.Reminder => "reminder",
        _ => "index",
    };
}

/// <summary>
/// The few families of refetch reasons a metric label may carry; the codes themselves (and the messages)
/// stay in logs and the API.
/// </summary>
public static class ReasonClasses
{
    public const string None = "none";
    public const string Agent = "agent";
    public const string Mdm = "mdm";
    public const string Push = "push";
    public const string Identity = "identity";
    public const string Other = "other";

    public static string Of(Reason? reason) => reason?.Code switch
    {
        null => None,
        ReasonCodes.AgentSilent or ReasonCodes.AgentNoResults or ReasonCodes.AgentError => Agent,
        ReasonCodes.MdmNoAck or ReasonCodes.MdmError or ReasonCodes.MdmUnenrolled => Mdm,
        ReasonCodes.PushFailed => Push,
        ReasonCodes.IdentityExpired or ReasonCodes.IdentityIssueFailed or ReasonCodes.IdentityNotPresented => Identity,
        _ => Other,
    };
}

/// <summary>The status words used in logs, metrics and the API.</summary>
public static class Words
{
    public static string Of(RefetchStatus status) => status switch
    {
        RefetchStatus.Pending => "pending",
        RefetchStatus.Verifying => "verifying",
        RefetchStatus.Verified => "verified",
        RefetchStatus.Failed => "failed",
        _ => "none",
    };

    public static string Of(MdmResultStatus status) => status switch
    {
        MdmResultStatus.Idle => "idle",
        MdmResultStatus.Acknowledged => "acknowledged",
        MdmResultStatus.Error => "error",
        MdmResultStatus.CommandFormatError => "command_format_error",
        _ => "not_now",
    };

    public static string Of(PushFailureKind kind) => kind switch
    {
        PushFailureKind.Unreachable => "unreachable",
        PushFailureKind.CertificateExpired => "certificate_expired",
        PushFailureKind.InvalidDeviceToken => "invalid_device_token",
        _ => "rejected",
    };

    public static string Of(ProfileStatus status) => status switch
    {
        ProfileStatus.Pending => "pending",
        ProfileStatus.Verifying => "verifying",
        ProfileStatus.Verified => "verified",
        ProfileStatus.Failed => "failed",
        _ => "none",
    };

    public static string Of(IdentityVerdict verdict) => verdict switch
    {
        IdentityVerdict.Accepted => "accepted",
        IdentityVerdict.Unrecognised => "unrecognised",
        IdentityVerdict.Foreign => "foreign",
        _ => "expired",
    };

    public static string Of(ProfileOperation operation) => operation == ProfileOperation.Remove ? "remove" : "install";
}
