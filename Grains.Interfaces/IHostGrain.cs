using Orleans.Concurrency;

namespace Fleet.Contracts;

/// <summary>
/// One machine, keyed by its canonical hardware UUID (see <see cref="HostIds"/>). It owns the machine's
/// identity, node key, vitals and the refetch in flight.
/// </summary>
[Alias("fleet.host")]
public interface IHostGrain : IGrainWithStringKey
{
    /// <summary>Enrolls (or re-enrolls) the machine; any earlier node key stops working.</summary>
    [Alias("enroll")]
    Task<EnrollResult> EnrollAsync(EnrollRequest request);

    /// <summary>osquery <c>config</c>: false when the node key is not this host's current one.</summary>
    [Alias("config")]
    Task<bool> GetConfigAsync(string nodeSecret);

    /// <summary>
    /// osquery <c>distributed/read</c>: hands out the detail queries a refetch in flight owes. When nothing is
    /// owed and <paramref name="leaseHolder"/> is given, the answer may lease the holder quiet answers for a while.
    /// </summary>
    [Alias("read")]
    Task<DistributedReadResult> ReadAsync(string nodeSecret, ICheckInLeaseHolder? leaseHolder = null);

    /// <summary>osquery <c>distributed/write</c>: ingests vitals and completes the refetch they answer.</summary>
    [Alias("write")]
    Task<bool> WriteAsync(string nodeSecret, DetailResults results);

    /// <summary>osquery <c>log</c>: a check-in that carries no state.</summary>
    [Alias("log")]
    Task<bool> LogAsync(string nodeSecret);

    /// <summary>Starts a refetch, or returns the one in flight.</summary>
    [Alias("refetch")]
    Task<RefetchRequestResult> RequestRefetchAsync();

    /// <summary>
    /// A bulk refetch job asks for a refetch, at most once per host: when the host's latest refetch is already
    /// this job's it comes back unchanged (<see cref="RefetchOutcome.AlreadyRequested"/>, whatever its status);
    /// a refetch in flight for someone else is adopted by the job (its epoch and deadline unchanged); otherwise
    /// a refetch starts, tagged with the job.
    /// </summary>
    [Alias("refetch-for-job")]
    Task<RefetchRequestResult> RequestRefetchForJobAsync(string jobId);

    /// <summary>The operator's view, or <see langword="null"/> for a host that never enrolled.</summary>
    [Alias("get")]
    Task<HostView?> GetAsync();

    /// <summary>An Apple MDM check-in (<c>Authenticate</c>, <c>TokenUpdate</c>, <c>CheckOut</c>) for this UDID.</summary>
    [Alias("mdm-checkin")]
    Task<MdmCheckInResult> MdmCheckInAsync(MdmCheckIn checkIn);

    /// <summary>
    /// An Apple MDM command-channel report for this UDID: records the result of the command it names and
    /// answers the next command for the device, or none.
    /// </summary>
    [Alias("mdm-report")]
    Task<MdmReportResult> MdmReportAsync(MdmReport report);

    /// <summary>
    /// A device presented an identity certificate that chains to a device CA but has expired. When it is this
    /// host's recorded certificate, the host records the expiry and fails its pending MDM work at once.
    /// </summary>
    [Alias("mdm-certificate-expired")]
    Task<IdentityVerdict> MdmCertificateExpiredAsync(DeviceCertificate certificate);

    /// <summary>Moves the host to a team (null: no team) and assigns that team's profiles; false for an unknown host.</summary>
    [Alias("set-team")]
    Task<bool> SetTeamAsync(string? teamId);

    /// <summary>The team's declared profiles changed; the host reconciles its profiles with them.</summary>
    [Alias("team-profiles")]
    Task ApplyTeamProfilesAsync(TeamProfiles profiles);

    /// <summary>
    /// Publishes the host's index entry again and returns it, for a shard being repaired;
    /// <see langword="null"/> for a host that never enrolled.
    /// </summary>
    [Alias("index-entry")]
    Task<HostIndexEntry?> RepublishAsync();

    /// <summary>
    /// The host's current index entry, without sending it; <see langword="null"/> for a host that never
    /// enrolled. The silo's index recovery collects these after another silo died and sends them in batches.
    /// </summary>
    [Alias("current-index-entry")]
    Task<HostIndexEntry?> GetIndexEntryAsync();

    /// <summary>
    /// Runs the host's due wake-ups, as its timer would, and answers its index shard with its entry. Sent by
    /// the shard's sweep for hosts whose wake-up is overdue: after a crash it is what re-activates them.
    /// </summary>
    [OneWay, Alias("wake")]
    Task WakeAsync();
}
