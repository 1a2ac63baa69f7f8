namespace Fleet.Chaos;

/// <summary>
/// One fault's row of the result: requests the simulator and the operator load attempted during its phase and how
/// many failed (by cause), how long after the fault struck requests stopped failing, and the checks after it.
/// </summary>
internal sealed record FaultResult(
    string Fault,
    string Description,
    long Attempted,
    long Failed,
    IReadOnlyDictionary<string, long> FailedBy,
    double? RecoverySeconds,
    CheckResult Checks)
{
    public static FaultResult From(string fault, string description, Traffic traffic, CheckResult checks) =>
        new(fault, description, traffic.Attempted, traffic.FailedBy.Values.Sum(), traffic.FailedBy, traffic.RecoverySeconds, checks);
}

/// <summary>The requests of one phase: attempted, failed by cause, and the time from the fault to the last failure.</summary>
internal sealed record Traffic(long Attempted, IReadOnlyDictionary<string, long> FailedBy, double? RecoverySeconds)
{
    /// <summary>
    /// Counts the simulator's per-second lines and the operator's outcomes that fall in the phase. Time to recover is
    /// measured from the moment the fault struck to the end of the last second in which any request failed (0 when
    /// none did); null when requests still failed in the phase's last 2 s, so recovery was not seen.
    /// </summary>
    public static Traffic Measure(
        IEnumerable<SimulatorStats.Line[]> simulators, RequestLog operators, DateTimeOffset start, DateTimeOffset fault, DateTimeOffset end)
    {
        var attempted = 0L;
        var failedBy = new SortedDictionary<string, long>(StringComparer.Ordinal);
        DateTimeOffset? lastFailure = null;
        void Count(DateTimeOffset at, long tried, IEnumerable<KeyValuePair<string, long>> failures)
        {
            attempted += tried;
            foreach (var (cause, count) in failures)
            {
                failedBy[cause] = failedBy.GetValueOrDefault(cause) + count;
                if (count > 0 && at >= fault && (lastFailure is null || at > lastFailure))
                {
                    lastFailure = at;
                }
            }
        }

        foreach (var lines in simulators)
        {
            foreach (var second in SimulatorStats.Seconds([.. lines]).Where(second => second.At > start && second.At <= end))
            {
                Count(second.At, second.Attempted, second.Failed);
            }
        }

        foreach (var outcome in operators.Between(start, end))
        {
            Count(outcome.At, 1, outcome.Failure is null ? [] : [new(outcome.Failure, 1)]);
        }

        double? recovery = lastFailure switch
        {
            null => 0,
            { } last when last > end - TimeSpan.FromSeconds(2) => null,
            { } last => Math.Ceiling((last - fault).TotalSeconds),
        };

        return new Traffic(attempted, failedBy, recovery);
    }
}
