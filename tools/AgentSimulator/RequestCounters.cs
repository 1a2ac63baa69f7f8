using System.Collections.Concurrent;
using System.Net;

namespace Fleet.AgentSimulator;

/// <summary>
/// Counts the osquery requests the agents send: every attempt, and each failure by its cause, an HTTP
/// status such as <c>503</c>, <c>timeout</c> or <c>connection</c>. Safe to use from any thread.
/// </summary>
public sealed class RequestCounters
{
    /// <summary>The cause of a request that got no answer in time.</summary>
    public const string Timeout = "timeout";

    /// <summary>The cause of a request that could not reach the Api (refused, reset, closed).</summary>
    public const string Connection = "connection";

    private readonly ConcurrentDictionary<string, long> _failures = new(StringComparer.Ordinal);
    private long _attempted;
    private long _succeeded;

    public long Attempted => Interlocked.Read(ref _attempted);

    public long Succeeded => Interlocked.Read(ref _succeeded);

    /// <summary>Failed requests by cause, a copy.</summary>
    public IReadOnlyDictionary<string, long> Failures => new SortedDictionary<string, long>(_failures, StringComparer.Ordinal);

    public long Failed => _failures.Values.Sum();

    public void Answered(HttpStatusCode status)
    {
        Interlocked.Increment(ref _attempted);
        if (status == HttpStatusCode.OK)
        {
            Interlocked.Increment(ref _succeeded);
            return;
        }

        Fail(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public void Unanswered(string cause)
    {
        Interlocked.Increment(ref _attempted);
        Fail(cause);
    }

    private void Fail(string cause) => _failures.AddOrUpdate(cause, 1, (_, count) => count + 1);
}
