using Fleet.Contracts;

namespace Fleet.Grains.Refetch;

/// <summary>The persisted state of a host's latest refetch. Immutable; the machine returns new copies.</summary>
[GenerateSerializer, Immutable, Alias("fleet.refetch-record")]
public sealed record RefetchRecord
{
    [Id(0)] public required int Epoch { get; init; }
    [Id(1)] public required RefetchStatus Status { get; init; }
    [Id(2)] public required DateTimeOffset RequestedAt { get; init; }

    /// <summary>When the current step times out; null once terminal.</summary>
    [Id(3)] public DateTimeOffset? Deadline { get; init; }
    [Id(4)] public required int Attempt { get; init; }
    [Id(5)] public required int MaxAttempts { get; init; }

    /// <summary>Why it failed, or why the last attempt was retried.</summary>
    [Id(6)] public Reason? Reason { get; init; }
    [Id(7)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>When the agent last took this epoch's detail queries; null while none were handed out.</summary>
    [Id(8)] public DateTimeOffset? HandedOutAt { get; init; }
    [Id(9)] public required string Policy { get; init; }

    public bool InFlight => Status is RefetchStatus.Pending or RefetchStatus.Verifying;

    public RefetchView ToView(string hostId) =>
        new(hostId, Epoch, Status, RequestedAt, Deadline, Attempt, MaxAttempts, Reason, CompletedAt, HandedOutAt, Policy);
}
