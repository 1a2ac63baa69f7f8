namespace Fleet.Contracts;

/// <summary>
/// An agent's enrollment, after the Api checked its enroll secret: the <c>host_details</c> tables it sent
/// (table name to its single row), which the grain reads into <see cref="HostDetails"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.enroll")]
public sealed record EnrollRequest(
    [property: Id(0)] IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> HostDetails);

/// <summary>The node key the agent presents on every later request.</summary>
[GenerateSerializer, Immutable, Alias("fleet.enroll-result")]
public sealed record EnrollResult([property: Id(0)] string NodeKey)
{
    /// <summary>Without the key's secret: Orleans prints a response's body when it traces messages.</summary>
    public override string ToString() => $"EnrollResult {{ NodeKey = {NodeKey.Split(':')[0]}:(secret) }}";
}

/// <summary>
/// What <c>distributed/read</c> hands the agent: query name to SQL, empty when nothing is owed. With nothing
/// owed and a lease holder named, it may carry a <see cref="CheckInLease"/> for the holder.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.distributed-read")]
public sealed record DistributedReadResult(
    [property: Id(0)] bool NodeValid,
    [property: Id(1)] IReadOnlyDictionary<string, string> Queries)
{
    [Id(2)] public CheckInLease? Lease { get; init; }

    public static DistributedReadResult Invalid { get; } = new(false, new Dictionary<string, string>());

    /// <summary>A valid check-in with nothing owed, the answer to almost every <c>distributed/read</c>.</summary>
    public static DistributedReadResult NothingOwed { get; } = new(true, new Dictionary<string, string>());
}

/// <summary>
/// The detail-query part of a <c>distributed/write</c>: rows by query name (without the
/// <c>fleet_detail_query_</c> prefix), the status osquery reported for each, and its error messages.
/// </summary>
[GenerateSerializer, Immutable, Alias("fleet.detail-results")]
public sealed record DetailResults(
    [property: Id(0)] IReadOnlyDictionary<string, IReadOnlyList<IReadOnlyDictionary<string, string>>> Rows,
    [property: Id(1)] IReadOnlyDictionary<string, int> Statuses,
    [property: Id(2)] IReadOnlyDictionary<string, string> Messages)
{
    public bool IsEmpty => Rows.Count == 0 && Statuses.Count == 0;
}

/// <summary>Naming shared by the Api and the grains for osquery detail queries.</summary>
public static class DetailQueryNames
{
    /// <summary>The prefix every detail query carries on the wire, so real agents' results map onto ours.</summary>
    public const string Prefix = "fleet_detail_query_";
}
