namespace Fleet.Grains.Hosts;

/// <summary>What keeps an active host small: thousands of them stay in one silo's memory between check-ins.</summary>
internal sealed partial class HostGrain
{
    /// <summary>
    /// Swaps the strings that hosts of one OS and hardware have in common (the low-cardinality details, the
    /// refetch policy name) for the silo-wide pool's instances, so each freshly read state does not keep its own.
    /// </summary>
    private void ShareCommonStrings()
    {
        var pool = StringPool.Shared;
        State.Details = pool.Intern(State.Details);
        if (State.Refetch is { } refetch)
        {
            State.Refetch = refetch with { Policy = pool.Intern(refetch.Policy)! };
        }
    }
}
