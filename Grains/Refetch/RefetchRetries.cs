namespace Fleet.Grains.Refetch;

/// <summary>Which parts of a refetch one step of the machine moved on to a further attempt.</summary>
public static class RefetchRetries
{
    public const string Osquery = "osquery";
    public const string Mdm = "mdm";

    /// <summary>
    /// The parts whose attempt grew from <paramref name="before"/> to <paramref name="after"/> within one
    /// epoch. A new epoch starts at attempt 1 and a last attempt fails without a new one, so neither counts.
    /// </summary>
    public static IReadOnlyList<string> Between(RefetchRecord? before, RefetchRecord? after)
    {
        if (before is null || after is null || before.Epoch != after.Epoch)
        {
            return [];
        }

        var parts = new List<string>(2);
        if (after.OsqueryPart is { } osquery && before.OsqueryPart is { } osqueryBefore && osquery.Attempt > osqueryBefore.Attempt)
        {
            parts.Add(Osquery);
        }

        if (after.Mdm is { } mdm && before.Mdm is { } mdmBefore && mdm.Attempt > mdmBefore.Attempt)
        {
            parts.Add(Mdm);
        }

        return parts;
    }
}
