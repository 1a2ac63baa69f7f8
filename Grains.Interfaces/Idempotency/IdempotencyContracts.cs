namespace Fleet.Contracts;

/// <summary>The first answer to an operator request sent with an <c>Idempotency-Key</c>, kept to replay to its retries.</summary>
/// <param name="Status">HTTP status of the first answer.</param>
/// <param name="ContentType">Its <c>Content-Type</c>, if any.</param>
/// <param name="Location">Its <c>Location</c>, if any.</param>
/// <param name="Body">Its body, as sent.</param>
[GenerateSerializer, Immutable, Alias("fleet.idempotent-answer")]
public sealed record IdempotentAnswer(
    [property: Id(0)] int Status,
    [property: Id(1)] string? ContentType,
    [property: Id(2)] string? Location,
    [property: Id(3)] byte[] Body);

/// <summary>What a request holding an idempotency key is to do.</summary>
[GenerateSerializer, Alias("fleet.idempotency-outcome")]
public enum IdempotencyOutcome
{
    /// <summary>The key is new (or its answer expired): run the request, then complete or release the key.</summary>
    Run = 0,

    /// <summary>The same request was answered before: send <see cref="IdempotencyBegin.Answer"/> again.</summary>
    Replay = 1,

    /// <summary>The same key is held by a request that has not finished yet.</summary>
    InProgress = 2,

    /// <summary>The key was used for a different request (method, path, query or body).</summary>
    Mismatch = 3,
}

[GenerateSerializer, Immutable, Alias("fleet.idempotency-begin")]
public sealed record IdempotencyBegin(
    [property: Id(0)] IdempotencyOutcome Outcome,
    [property: Id(1)] IdempotentAnswer? Answer);

/// <summary>
/// One idempotency key of one operator, keyed by <see cref="IdempotencyKeys.GrainKey"/>. It lets one request at a
/// time hold the key, keeps the first finished answer in storage, and forgets it after the retention time.
/// </summary>
[Alias("fleet.idempotency")]
public interface IIdempotencyGrain : IGrainWithStringKey
{
    /// <summary>Claims the key for a request whose method, target and body hash to <paramref name="fingerprint"/>.</summary>
    [Alias("begin")]
    Task<IdempotencyBegin> BeginAsync(string fingerprint);

    /// <summary>Stores the answer of the request that claimed the key; later retries replay it.</summary>
    [Alias("complete")]
    Task CompleteAsync(string fingerprint, IdempotentAnswer answer);

    /// <summary>Gives the key back without an answer (the request failed before answering), so a retry runs.</summary>
    [Alias("release")]
    Task ReleaseAsync(string fingerprint);
}

public static class IdempotencyKeys
{
    /// <summary>The request header.</summary>
    public const string Header = "Idempotency-Key";

    /// <summary>Set on a replayed answer.</summary>
    public const string ReplayedHeader = "Idempotent-Replayed";

    public const int MaxLength = 255;

    /// <summary>1-255 printable ASCII characters (space to tilde).</summary>
    public static bool IsValid(string? key) =>
        key is { Length: > 0 and <= MaxLength } && key.All(c => c is >= ' ' and <= '~');

    /// <summary>
    /// The grain key: a hash of who sent the key and the key, so that operators never share a key, and storage
    /// row keys never hold the characters Azure Table forbids.
    /// </summary>
    public static string GrainKey(string principal, string key)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes($"{principal.Length}:{principal}\n{key}");

        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
    }
}
