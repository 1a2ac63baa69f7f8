using System.Diagnostics.Metrics;
using Fleet.Api.Operators;
using Fleet.Contracts;
using Fleet.Telemetry;

namespace Fleet.Api.Diagnostics;

/// <summary>
/// The Api's instruments (meter <c>Fleet.Orleans</c>): agent requests as the Api answered them, and the
/// number of hosts per status, read from the last counts <see cref="HostCountsRefresher"/> took from the index.
/// </summary>
public sealed class ApiMetrics
{
    public const string ResultOk = "ok";
    public const string ResultInvalid = "invalid";
    public const string ResultBadRequest = "bad_request";

    private readonly Counter<long> _agentRequests;
    private readonly Counter<long> _leaseAnswers;
    private readonly Counter<long> _leasesRevoked;
    private IReadOnlyDictionary<RefetchStatus, int>? _hostsByStatus;

    public ApiMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(FleetTelemetry.MeterName);
        _agentRequests = meter.CreateCounter<long>(
            "fleet.api.agent_requests", "{request}", "osquery agent requests answered by the Api, by endpoint and result.");
        _leaseAnswers = meter.CreateCounter<long>(
            "fleet.api.lease_answers", "{request}", "distributed/read check-ins the Api answered under the host's lease, without a grain call.");
        _leasesRevoked = meter.CreateCounter<long>(
            "fleet.api.leases_revoked", "{lease}", "Check-in leases hosts revoked at this Api process.");
        meter.CreateObservableGauge(
            "fleet.hosts", ObserveHosts, "{host}", "Enrolled hosts per refetch status, as last read from the host index.");
    }

    public void AgentRequest(string endpoint, string result) =>
        _agentRequests.Add(
            1,
            new KeyValuePair<string, object?>("endpoint", endpoint),
            new KeyValuePair<string, object?>("result", result));

    public void LeaseAnswer() => _leaseAnswers.Add(1);

    public void LeaseRevoked() => _leasesRevoked.Add(1);

    /// <summary>Replaces the counts the <c>fleet.hosts</c> gauge reports.</summary>
    public void HostsByStatus(IReadOnlyDictionary<RefetchStatus, int> counts) => Volatile.Write(ref _hostsByStatus, counts);

    // Nothing until the first read succeeds: a zero would claim an empty fleet.
    private IEnumerable<Measurement<int>> ObserveHosts() =>
        Volatile.Read(ref _hostsByStatus) is { } counts
            ? counts.Select(c => new Measurement<int>(c.Value, new KeyValuePair<string, object?>("status", StatusWords.Of(c.Key))))
            : [];
}
