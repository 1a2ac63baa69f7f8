using Fleet.Contracts;

namespace Fleet.Grains.Mdm;

/// <summary>
/// A host's MDM enrollment and the state of its push channel. Immutable; the grain replaces it. The device
/// session counter, last-seen time and routine push bookkeeping ride along with the next real write.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.mdm-enrollment")]
public sealed record MdmEnrollment
{
    /// <summary>The latest <c>Authenticate</c>.</summary>
    [Id(0)] public required DateTimeOffset EnrolledAt { get; init; }

    /// <summary>When the device checked out; null while enrolled.</summary>
    [Id(1)] public DateTimeOffset? CheckedOutAt { get; init; }
    [Id(2)] public DateTimeOffset? LastSeenAt { get; init; }

    /// <summary>From the latest <c>TokenUpdate</c>; null before the first one and after a check-out.</summary>
    [Id(3)] public MdmPushTarget? PushTarget { get; init; }

    /// <summary>Grows by one with each <c>Idle</c> report: a device session is the exchange that follows it.</summary>
    [Id(4)] public long Session { get; init; }
    [Id(5)] public DateTimeOffset? LastPushAt { get; init; }

    /// <summary>When the commands still queued are pushed again, if the device stays silent.</summary>
    [Id(6)] public DateTimeOffset? NextPushAt { get; init; }

    /// <summary>Pushes since the device last reported; the re-push backoff doubles with each.</summary>
    [Id(7)] public int PushAttempt { get; init; }

    /// <summary>Why the last push failed (code <c>push_failed</c>); null after a push gets through.</summary>
    [Id(8)] public Reason? PushFailure { get; init; }

    /// <summary>The push service refused the device token: no pushes until the next <c>TokenUpdate</c>.</summary>
    [Id(9)] public bool TokenRejected { get; init; }

    /// <summary>The kind of the last push failure as a word (<c>certificate_expired</c>, <c>unreachable</c>, …); null with <see cref="PushFailure"/>.</summary>
    [Id(10)] public string? PushFailureKind { get; init; }

    public bool Active => CheckedOutAt is null;
}
