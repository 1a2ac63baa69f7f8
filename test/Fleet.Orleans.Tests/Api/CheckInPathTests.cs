using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// The no-op check-in path, made cheap: its cached answers read byte for byte as before, the node key the host
/// remembers stops working at re-enrollment, and a body arriving in many pieces parses like one buffer.
/// </summary>
public sealed class CheckInPathTests(ClusterFixture fixture)
{
    private const string ReadPath = "/api/osquery/distributed/read";
    private const string WritePath = "/api/osquery/distributed/write";

    [Fact]
    public async Task ReadAndLog_WithNothingOwed_AnswerTheProtocolsJsonExactly()
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.Ubuntu);

        using var read = await agent.PostAsync(ReadPath, agent.NodeKeyBody());
        using var log = await agent.PostAsync("/api/osquery/log", agent.NodeKeyBody());

        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal("application/json; charset=utf-8", read.Content.Headers.ContentType?.ToString());
        Assert.Equal("""{"queries":{}}""", await read.Content.ReadAsStringAsync(TestAborted));
        Assert.Equal(HttpStatusCode.OK, log.StatusCode);
        Assert.Equal("application/json; charset=utf-8", log.Content.Headers.ContentType?.ToString());
        Assert.Equal("{}", await log.Content.ReadAsStringAsync(TestAborted));
    }

    [Fact]
    public async Task Read_WithKeyThatCheckedInBeforeReEnroll_Returns401NodeInvalid()
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.Ubuntu);
        var staleBody = agent.NodeKeyBody();
        using (var before = await agent.PostAsync(ReadPath, staleBody))
        {
            await ExpectStatusAsync(before, HttpStatusCode.OK, $"host {agent.HostId}: read before re-enrolling");
        }

        await agent.EnrollAsync();
        using var stale = await agent.PostAsync(ReadPath, staleBody);
        using var current = await agent.PostAsync(ReadPath, agent.NodeKeyBody());

        await ExpectNodeInvalidAsync(stale, $"host {agent.HostId}: read with the key that worked before re-enrolling");
        await ExpectStatusAsync(current, HttpStatusCode.OK, $"host {agent.HostId}: read with the new key");
    }

    [Fact]
    public async Task Write_SpanningManyBufferSegments_VerifiesTheRefetch()
    {
        using var http = fixture.AgentClient();
        using var operators = fixture.OperatorClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.Ubuntu);
        (await operators.RefetchAsync(agent.HostId)).Dispose();
        var queries = await agent.ReadAsync();
        var rows = Payloads.WriteQueries(AgentProfile.Ubuntu.WriteFile, agent.Identity);
        var body = new JsonObject
        {
            ["node_key"] = agent.NodeKey,
            ["queries"] = new JsonObject(queries.Select(q => KeyValuePair.Create(q, rows[q]?.DeepClone() ?? (JsonNode?)new JsonArray()))),
            ["statuses"] = new JsonObject(queries.Select(q => KeyValuePair.Create(q, (JsonNode?)0))),
            // Far more than one buffer of the request pipe, so the body is parsed from many segments.
            ["padding"] = new string('x', 40 * 1024),
        };

        using var response = await http.PostJsonAsync(WritePath, body.ToJsonString());

        await ExpectStatusAsync(response, HttpStatusCode.OK, $"host {agent.HostId}: write of {queries.Count} queries in 40 KiB");
        var host = await operators.WaitForRefetchStatusAsync(agent.HostId, "verified", TimeSpan.FromSeconds(10));
        // Uptime comes only from the write, never from the enrollment.
        var uptime = Text(rows["fleet_detail_query_uptime"]?[0], "total_seconds");
        Assert.NotNull(uptime);
        Assert.Equal(int.Parse(uptime, CultureInfo.InvariantCulture), Int(host["details"], "uptime_seconds"));
    }
}
