using System.Net;
using System.Text.Json.Nodes;
using Fleet.Api.Mdm;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Security;

/// <summary>
/// Every endpoint group is rate limited: in this Api each partition admits <see cref="SecurityApiFixture.Burst"/>
/// requests and refuses the next with 429 and <c>Retry-After</c>; loopback sources have their own, high limit.
/// Each test comes from its own documentation address (192.0.2.0/24), so no two tests share a partition.
/// </summary>
public sealed class RateLimitTests(SecurityApiFixture fixture) : IClassFixture<SecurityApiFixture>
{
    private const int Burst = SecurityApiFixture.Burst;

    [Fact]
    public async Task Operators_AreLimitedPerOperator_WithProblemJsonAndRetryAfter()
    {
        using var observer = fixture.Client(ApiFactory.ObserverToken, "192.0.2.11");
        using var sameOperatorElsewhere = fixture.Client(ApiFactory.ObserverToken, "192.0.2.12");
        using var otherOperator = fixture.Client(ApiFactory.MaintainerToken, "192.0.2.11");

        var admitted = await StatusesAsync(Burst, () => observer.GetAsync("/api/v1/hosts/summary", TestAborted));
        using var refused = await sameOperatorElsewhere.GetAsync("/api/v1/hosts/summary", TestAborted);
        using var other = await otherOperator.GetAsync("/api/v1/hosts/summary", TestAborted);

        Assert.All(admitted, s => Assert.Equal(HttpStatusCode.OK, s));
        await ExpectTooManyAsync(refused, "operator 'observer' from a second address");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task OsqueryAgents_AreLimitedPerSource_WithAJsonErrorThatIsNotNodeInvalid()
    {
        var agent = await TestAgent.EnrollAsync(fixture.Cluster.AgentClient(), AgentProfile.MacOs14);
        using var source = fixture.Client(remoteAddress: "192.0.2.21");
        using var otherSource = fixture.Client(remoteAddress: "192.0.2.22");

        var admitted = await StatusesAsync(Burst, () => source.PostJsonAsync("/api/osquery/config", agent.NodeKeyBody()));
        using var refused = await source.PostJsonAsync("/api/osquery/distributed/read", agent.NodeKeyBody());
        using var other = await otherSource.PostJsonAsync("/api/osquery/config", agent.NodeKeyBody());

        Assert.All(admitted, s => Assert.Equal(HttpStatusCode.OK, s));
        var body = await ExpectStatusAsync(refused, HttpStatusCode.TooManyRequests, "4th agent request from 192.0.2.21");
        Assert.Equal(false, body["node_invalid"]?.GetValue<bool>());
        Assert.StartsWith("Too many requests", Text(body, "error"), StringComparison.Ordinal);
        ExpectRetryAfter(refused, "agent request");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task Enroll_IsLimitedPerSource()
    {
        using var source = fixture.Client(remoteAddress: "192.0.2.31");

        var admitted = await StatusesAsync(Burst, () => source.PostJsonAsync("/api/osquery/enroll", EnrollBody(Guid.NewGuid())));
        using var refused = await source.PostJsonAsync("/api/osquery/enroll", EnrollBody(Guid.NewGuid()));

        Assert.All(admitted, s => Assert.Equal(HttpStatusCode.OK, s));
        var body = await ExpectStatusAsync(refused, HttpStatusCode.TooManyRequests, "4th enrollment from 192.0.2.31");
        Assert.Equal(false, body["node_invalid"]?.GetValue<bool>());
        ExpectRetryAfter(refused, "enroll");
    }

    [Fact]
    public async Task Enroll_IsLimitedPerHost_WhateverTheSource()
    {
        var hostId = Guid.NewGuid();

        var admitted = new List<HttpStatusCode>();
        for (var i = 0; i < Burst; i++)
        {
            using var source = fixture.Client(remoteAddress: $"192.0.2.{40 + i}");
            using var response = await source.PostJsonAsync("/api/osquery/enroll", EnrollBody(hostId));
            admitted.Add(response.StatusCode);
        }

        using var fresh = fixture.Client(remoteAddress: "192.0.2.49");
        using var refused = await fresh.PostJsonAsync("/api/osquery/enroll", EnrollBody(hostId));
        using var otherHost = await fresh.PostJsonAsync("/api/osquery/enroll", EnrollBody(Guid.NewGuid()));
        using var wrongSecret = await fresh.PostJsonAsync("/api/osquery/enroll", EnrollBody(hostId, "not-the-enroll-secret"));

        Assert.All(admitted, s => Assert.Equal(HttpStatusCode.OK, s));
        var body = await ExpectStatusAsync(refused, HttpStatusCode.TooManyRequests, $"4th enrollment of host {hostId}");
        Assert.Equal("This host enrolled too often; retry later.", Text(body, "error"));
        ExpectRetryAfter(refused, "enroll of one host");
        Assert.Equal(HttpStatusCode.OK, otherHost.StatusCode);
        await ExpectNodeInvalidAsync(wrongSecret, $"host {hostId} with a wrong secret");
    }

    [Fact]
    public async Task Mdm_IsLimitedPerSource_WithProblemJson()
    {
        using var source = fixture.Client(remoteAddress: "192.0.2.51");
        var plist = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>";

        var admitted = await StatusesAsync(Burst, () => PutPlistAsync(source, plist));
        using var refused = await PutPlistAsync(source, plist);

        Assert.All(admitted, s => Assert.NotEqual(HttpStatusCode.TooManyRequests, s));
        await ExpectTooManyAsync(refused, "4th MDM check-in from 192.0.2.51");
    }

    [Theory]
    [InlineData("/healthz", "192.0.2.61")]
    [InlineData("/", "192.0.2.62")]
    [InlineData("/openapi/v1.json", "192.0.2.63")]
    public async Task PublicPages_AreLimitedPerSource(string path, string address)
    {
        using var source = fixture.Client(remoteAddress: address);

        var admitted = await StatusesAsync(Burst, () => source.GetAsync(path, TestAborted));
        using var refused = await source.GetAsync(path, TestAborted);

        Assert.All(admitted, s => Assert.Equal(HttpStatusCode.OK, s));
        await ExpectTooManyAsync(refused, $"4th GET {path} from {address}");
    }

    [Fact]
    public async Task LoopbackSources_GetTheLoopbackLimit_NotTheGroupsLimit()
    {
        using var loopback = fixture.Client(ApiFactory.ObserverToken, "127.0.0.1");
        using var inProcess = fixture.Client(ApiFactory.ObserverToken);

        var viaLoopback = await StatusesAsync(Burst * 3, () => loopback.GetAsync("/healthz", TestAborted));
        var viaInProcess = await StatusesAsync(Burst * 3, () => inProcess.GetAsync("/healthz", TestAborted));

        Assert.All(viaLoopback, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.All(viaInProcess, s => Assert.Equal(HttpStatusCode.OK, s));
    }

    private static async Task<List<HttpStatusCode>> StatusesAsync(int count, Func<Task<HttpResponseMessage>> send)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            using var response = await send();
            statuses.Add(response.StatusCode);
        }

        return statuses;
    }

    private static async Task ExpectTooManyAsync(HttpResponseMessage response, string context)
    {
        var body = await ExpectProblemAsync(response, HttpStatusCode.TooManyRequests, "Too many requests", context);
        Assert.StartsWith("Too many requests", Text(body, "detail"), StringComparison.Ordinal);
        ExpectRetryAfter(response, context);
    }

    // The bucket refills once an hour, so the wait is the better part of an hour.
    private static void ExpectRetryAfter(HttpResponseMessage response, string context)
    {
        var seconds = response.Headers.RetryAfter?.Delta?.TotalSeconds;
        Assert.True(seconds is > 3000 and <= 3600, $"{context}: expected Retry-After of about an hour, got {seconds}");
    }

    private static Task<HttpResponseMessage> PutPlistAsync(HttpClient http, string plist)
    {
        var content = new StringContent(plist);
        content.Headers.ContentType = new(MdmApi.CheckInContentType);

        return http.PutAsync("/mdm/checkin", content, TestAborted);
    }

    private static string EnrollBody(Guid hostId, string secret = ApiFactory.EnrollSecret) => new JsonObject
    {
        ["enroll_secret"] = secret,
        ["host_identifier"] = hostId.ToString().ToUpperInvariant(),
        ["host_details"] = new JsonObject
        {
            ["system_info"] = new JsonObject { ["uuid"] = hostId.ToString().ToUpperInvariant(), ["hostname"] = "rate-limit-test" },
        },
    }.ToJsonString();
}
