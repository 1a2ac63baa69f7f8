using Fleet.Contracts;

namespace Fleet.Grains.Idempotency;

/// <summary>What an <see cref="IdempotencyGrain"/> persists: the first finished answer. Ids are never renumbered.</summary>
[GenerateSerializer, Alias("fleet.idempotency-record")]
public sealed class IdempotencyRecord
{
    /// <summary>Hash of the method, target and body of the request that was answered.</summary>
    [Id(0)] public string? Fingerprint { get; set; }

    [Id(1)] public IdempotentAnswer? Answer { get; set; }

    [Id(2)] public DateTimeOffset AnsweredAt { get; set; }
}
