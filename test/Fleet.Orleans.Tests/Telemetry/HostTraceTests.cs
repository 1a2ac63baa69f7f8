using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Fleet.Telemetry;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Telemetry;

/// <summary>A refetch request's trace, recorded in the test process: from the Api's request into the host grain's call.</summary>
public sealed class HostTraceTests(ClusterFixture fixture)
{
    private const string AspNetCoreSource = "Microsoft.AspNetCore";
    private const string OrleansApplicationSource = "Microsoft.Orleans.Application";

    [Fact]
    public async Task RefetchPost_TracesHostIdFromTheRequestIntoTheHostGrainCall_InOneTrace()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.Ubuntu);
        using var spans = new SpanRecorder(AspNetCoreSource, OrleansApplicationSource);
        using var http = fixture.OperatorClient();

        using var response = await http.RefetchAsync(agent.HostId);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var (request, grainCall) = await EventuallyAsync(
            () => Task.FromResult(spans.RequestAndGrainCall(agent.HostId)),
            pair => pair.Request is not null && pair.GrainCall is not null,
            $"host {agent.HostId}: request span and host grain span of one trace",
            describe: _ => spans.Describe());
        Assert.Equal(ActivityKind.Server, request!.Kind);
        Assert.Equal(agent.HostId, request.GetTagItem(FleetTelemetry.HostIdTag));
        Assert.Equal(ActivityKind.Server, grainCall!.Kind);
        Assert.Equal(request.TraceId, grainCall.TraceId);
        Assert.Equal(agent.HostId, grainCall.GetTagItem(FleetTelemetry.HostIdTag));
        Assert.Equal(agent.HostId, grainCall.GetBaggageItem(FleetTelemetry.HostIdTag));
        Assert.True(
            grainCall.OperationName.Contains("RequestRefetch", StringComparison.Ordinal),
            $"host {agent.HostId}: grain span is '{grainCall.OperationName}', expected the refetch request");
    }

    /// <summary>Every span of the named sources that stops while it listens, across the whole test process.</summary>
    private sealed class SpanRecorder : IDisposable
    {
        private readonly ConcurrentQueue<Activity> _stopped = new();
        private readonly ActivityListener _listener;

        public SpanRecorder(params string[] sources)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => sources.Contains(source.Name),
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = _stopped.Enqueue,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        /// <summary>The host's request span and the host grain's server span that shares its trace, once both ended.</summary>
        public (Activity? Request, Activity? GrainCall) RequestAndGrainCall(string hostId)
        {
            var marked = _stopped.Where(a => Equals(a.GetTagItem(FleetTelemetry.HostIdTag), hostId)).ToList();
            var request = marked.SingleOrDefault(a => a.Source.Name == AspNetCoreSource);
            var grainCall = marked.SingleOrDefault(a =>
                a.Source.Name == OrleansApplicationSource && a.Kind == ActivityKind.Server && a.TraceId == request?.TraceId);

            return (request, grainCall);
        }

        public string Describe() => string.Join(
            "; ",
            _stopped.Select(a => $"{a.Source.Name} {a.Kind} {a.OperationName} trace {a.TraceId} host {a.GetTagItem(FleetTelemetry.HostIdTag)}"));

        public void Dispose() => _listener.Dispose();
    }
}
