using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Fuzz;

/// <summary>
/// The osquery endpoints under generated input. Every answer is JSON: 200, a 400 with an error sentence, or a 401
/// with <c>node_invalid: true</c>; no 5xx; and a rejected request leaves the witness host exactly as it was.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class AgentFuzzTests(FuzzFixture fixture)
{
    public static TheoryData<string> NodeKeyEndpoints => new() { "/config", "/distributed/read", "/log" };

    [Theory]
    [MemberData(nameof(NodeKeyEndpoints))]
    public async Task NodeKeyEndpoint_GeneratedBodies_AnswerJsonAndRejectWithoutChange(string endpoint)
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        var body = agent.NodeKeyBody();
        var gen = Gen.Frequency(
            (3, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(body))),
            (2, FuzzInputs.WrongTypes(body)),
            (2, FuzzInputs.HostileJson("node_key")),
            (2, FuzzInputs.OddId(agent.NodeKey!).Select(key => FuzzBody.Of("odd node key", new JsonObject { ["node_key"] = key }.ToJsonString()))));

        await FuzzAgentAsync(agent, endpoint, gen);
    }

    [Fact]
    public async Task DistributedWrite_GeneratedBodies_AnswerJsonAndRejectWithoutChange()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
        var write = JsonNode.Parse(Payloads.Osquery(AgentProfile.MacOs14.WriteFile, agent.Identity))!;
        write["node_key"] = agent.NodeKey;
        var body = write.ToJsonString();
        var gen = Gen.Frequency(
            (3, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(body))),
            (3, FuzzInputs.WrongTypes(body)),
            (1, FuzzInputs.HostileJson("queries")),
            (1, FuzzInputs.HostileJson("node_key")));

        await FuzzAgentAsync(agent, "/distributed/write", gen);
    }

    [Fact]
    public async Task Enroll_GeneratedBodies_AnswerJsonAndRejectWithoutChange()
    {
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.Ubuntu);
        var body = Payloads.Osquery(AgentProfile.Ubuntu.EnrollFile, agent.Identity);
        var gen = Gen.Frequency(
            (3, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(body))),
            (3, FuzzInputs.WrongTypes(body)),
            (1, FuzzInputs.HostileJson("host_details")),
            (1, FuzzInputs.HostileJson("enroll_secret")),
            (1, FuzzInputs.OddId(agent.HostId).Select(id => FuzzBody.Of("odd host_identifier", new JsonObject
            {
                ["enroll_secret"] = ApiFactory.EnrollSecret,
                ["host_identifier"] = id,
            }.ToJsonString()))));

        await FuzzAgentAsync(agent, "/enroll", gen);
    }

    /// <summary>
    /// Writes replayed, repeated and out of order (a write with no read, the same write twice, results for a
    /// refetch that is over) never count twice: the epoch moves only on a refetch, a write with nothing in
    /// flight changes no refetch, and a replayed write changes nothing the first did not.
    /// </summary>
    [Fact]
    public async Task AgentWrites_ReplayedAndOutOfOrder_NeverCountTwice()
    {
        using var operators = fixture.OperatorClient();
        var steps = Gen.OneOf(AgentStep.Refetch, AgentStep.Read, AgentStep.Write, AgentStep.Replay, AgentStep.EmptyWrite).Array[1, 12];

        await FuzzChecks.SampleAsync(steps, async plan =>
        {
            var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
            string? lastWrite = null;
            foreach (var step in plan)
            {
                var before = await operators.GetHostAsync(agent.HostId);
                var context = $"host {agent.HostId}, plan [{string.Join(", ", plan)}], step {step}";
                var answer = step switch
                {
                    AgentStep.Refetch => await SendAsync(operators, "POST /api/v1/hosts/{host_id}/refetch", $"/api/v1/hosts/{agent.HostId}/refetch", null),
                    AgentStep.Read => await SendAsync(fixture.AgentClient(), "POST /api/osquery/distributed/read", "/api/osquery/distributed/read", agent.NodeKeyBody()),
                    AgentStep.EmptyWrite => await SendAsync(fixture.AgentClient(), "POST /api/osquery/distributed/write", "/api/osquery/distributed/write",
                        new JsonObject { ["node_key"] = agent.NodeKey, ["queries"] = new JsonObject() }.ToJsonString()),
                    _ => await SendAsync(fixture.AgentClient(), "POST /api/osquery/distributed/write", "/api/osquery/distributed/write",
                        lastWrite = step == AgentStep.Replay && lastWrite is not null ? lastWrite : FullWrite(agent)),
                };
                var after = await operators.GetHostAsync(agent.HostId);

                Assert.True(answer.Code is 200 or 202, $"{context}: answered {answer.Code} '{answer.Body}'");
                ExpectRefetchRules(step, before, after, context);
            }
        });
    }

    private static void ExpectRefetchRules(AgentStep step, JsonObject before, JsonObject after, string context)
    {
        var (epochBefore, epochAfter) = (Epoch(before), Epoch(after));
        var statusBefore = ApiTestKit.Text(before["refetch"], "status");
        var inFlight = statusBefore is "pending" or "verifying";
        var expectedEpoch = step == AgentStep.Refetch && !inFlight ? epochBefore + 1 : epochBefore;

        Assert.True(epochAfter == expectedEpoch, $"{context}: epoch {epochBefore} -> {epochAfter}, expected {expectedEpoch}");
        if (!inFlight && step != AgentStep.Refetch)
        {
            Assert.True(
                ApiTestKit.Show(before["refetch"]) == ApiTestKit.Show(after["refetch"]),
                $"{context}: with no refetch in flight the refetch changed from {ApiTestKit.Show(before["refetch"])} to {ApiTestKit.Show(after["refetch"])}");
        }

        if (step == AgentStep.Replay && !inFlight)
        {
            Assert.True(
                ApiTestKit.Show(before["transitions"]) == ApiTestKit.Show(after["transitions"]),
                $"{context}: a replayed write added transitions");
        }
    }

    private static int Epoch(JsonObject host) => ApiTestKit.Int(host["refetch"], "epoch") ?? 0;

    private static string FullWrite(TestAgent agent)
    {
        var write = JsonNode.Parse(Payloads.Osquery(AgentProfile.MacOs14.WriteFile, agent.Identity))!;
        write["node_key"] = agent.NodeKey;

        return write.ToJsonString();
    }

    private static Task<FuzzAnswer> SendAsync(HttpClient http, string endpoint, string url, string? json) =>
        FuzzChecks.SendAsync(http, FuzzChecks.Request(HttpMethod.Post, url, json is null ? null : Encoding.UTF8.GetBytes(json)), endpoint, json ?? url);

    private async Task FuzzAgentAsync(TestAgent agent, string endpoint, Gen<FuzzBody> bodies)
    {
        using var operators = fixture.OperatorClient();
        using var http = fixture.AgentClient();
        var expected = await FuzzChecks.HostStateAsync(operators, agent.HostId);
        var gen = Gen.Select(bodies, Gen.Bool);

        await FuzzChecks.SampleAsync(gen, async input =>
        {
            var (body, v1) = input;
            var path = (v1 ? "/api/v1/osquery" : "/api/osquery") + endpoint;
            var context = $"POST {path} with {body}";

            var answer = await FuzzChecks.SendAsync(http, FuzzChecks.Request(HttpMethod.Post, path, body.Bytes), $"POST {path}", body.ToString());
            FuzzChecks.ExpectAgentAnswer(answer, context);
            var state = await FuzzChecks.HostStateAsync(operators, agent.HostId);

            Assert.True(!answer.Rejected || state == expected, $"{context}: rejected with {answer.Code} but host {agent.HostId} changed from {expected} to {state}");
            expected = state;
        });
    }

    public enum AgentStep
    {
        Refetch,
        Read,
        Write,
        Replay,
        EmptyWrite,
    }
}
