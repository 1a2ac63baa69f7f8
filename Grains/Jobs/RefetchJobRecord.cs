using Fleet.Contracts;

namespace Fleet.Grains.Jobs;

/// <summary>
/// What a <see cref="RefetchJobGrain"/> persists. <see cref="Requested"/> and <see cref="Unknown"/> count the
/// hosts before <see cref="Batch"/>: the batch and the cursor past it are written before its hosts are asked,
/// so after a crash the batch is asked again (hosts answer a repeat from the same job unchanged) and counted
/// once. Ids are never renumbered.
/// </summary>
[GenerateSerializer, Alias("fleet.refetch-job-record")]
public sealed class RefetchJobRecord
{
    /// <summary>The job as started, its rate resolved and its explicit ids sorted; null for a job never started.</summary>
    [Id(0)] public RefetchJobSpec? Spec { get; set; }
    [Id(1)] public RefetchJobState State { get; set; }

    /// <summary>The last host id handed to a batch; the walk goes on after it, in ordinal host-id order.</summary>
    [Id(2)] public string? Cursor { get; set; }

    /// <summary>Hosts the filter matched when the job started (the explicit list's length); once walked, the hosts reached.</summary>
    [Id(3)] public int Matched { get; set; }
    [Id(4)] public int Requested { get; set; }
    [Id(5)] public int Unknown { get; set; }

    /// <summary>Hosts about to be asked (write-ahead); empty between batches.</summary>
    [Id(6)] public List<string> Batch { get; set; } = [];
    [Id(7)] public DateTimeOffset? StartedAt { get; set; }
    [Id(8)] public DateTimeOffset? FinishedAt { get; set; }
    [Id(9)] public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>When the last batch was asked, from which the job waits for the index and for stragglers.</summary>
    [Id(10)] public DateTimeOffset? LastRequestAt { get; set; }

    /// <summary>The counts the index last gave, so a job read right after a restart shows them.</summary>
    [Id(11)] public RefetchJobCounts Counts { get; set; } = RefetchJobCounts.Zero;

    public bool Active => Spec is not null && State is RefetchJobState.Running or RefetchJobState.Draining;
}
