using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// The osquery TLS endpoints and their <c>/api/v1/osquery</c> aliases: what an agent gets for a bad
/// secret, a malformed body, or a node key the host no longer holds.
/// </summary>
public sealed class OsqueryProtocolTests(ClusterFixture fixture)
{
    private const string WritePath = "/api/osquery/distributed/write";

    private static readonly string[] s_prefixes = ["/api/osquery", "/api/v1/osquery"];
    private static readonly string[] s_checkIns = ["config", "distributed/read", "distributed/write", "log"];
    private static readonly string[] s_endpoints = ["enroll", .. s_checkIns];

    public static TheoryData<string, string> CheckInsOnBothPrefixes =>
        [.. s_prefixes.SelectMany(p => s_checkIns.Select(e => (p, e)))];

    public static TheoryData<string, string> MalformedBodies => [.. s_endpoints.SelectMany(e => new[]
    {
        (e, "{\"node_key\": \"abc\""),
        (e, string.Empty),
        (e, "[{\"node_key\": \"abc\"}]"),
        (e, "\"node_key\""),
        (e, "null"),
    })];

    public static TheoryData<string> NodeKeysOfWrongType => ["42", "null", "true", "{}", "[\"key\"]"];

    [Theory]
    [InlineData("/api/osquery")]
    [InlineData("/api/v1/osquery")]
    public async Task Enroll_WithWrongSecret_Returns401NodeInvalid(string prefix)
    {
        var identity = TestHostIdentity.New();
        using var http = fixture.AgentClient();
        using var operators = fixture.OperatorClient();

        using var response = await http.PostJsonAsync(
            $"{prefix}/enroll", Payloads.Osquery(AgentProfile.MacOs14.EnrollFile, identity, "not-the-enroll-secret"));

        await ExpectNodeInvalidAsync(response, $"enroll of host {identity.Uuid} with a wrong secret");
        using var lookup = await operators.GetAsync($"/api/v1/hosts/{identity.Uuid}", TestAborted);
        Assert.True(
            lookup.StatusCode == HttpStatusCode.NotFound,
            $"host {identity.Uuid}: a refused enrollment created a host (GET answered {(int)lookup.StatusCode})");
    }

    [Fact]
    public async Task Enroll_WithoutSecret_Returns401NodeInvalid()
    {
        var identity = TestHostIdentity.New();
        var body = EnrollBody(AgentProfile.Ubuntu, identity);
        body.Remove("enroll_secret");
        using var http = fixture.AgentClient();

        using var response = await http.PostJsonAsync("/api/osquery/enroll", body.ToJsonString());

        await ExpectNodeInvalidAsync(response, $"enroll of host {identity.Uuid} without a secret");
    }

    [Fact]
    public async Task Enroll_WithoutAnyUuid_Returns400WithError()
    {
        var identity = TestHostIdentity.New();
        var body = EnrollBody(AgentProfile.MacOs14, identity);
        body["host_details"]!["system_info"]!.AsObject().Remove("uuid");
        body.Remove("host_identifier");
        using var http = fixture.AgentClient();

        using var response = await http.PostJsonAsync("/api/osquery/enroll", body.ToJsonString());

        await ExpectBadAgentRequestAsync(response, $"enroll of host {identity.Uuid} without a UUID");
    }

    [Fact]
    public async Task Enroll_WithHostnameAsHostIdentifierAndNoUuid_Returns400WithError()
    {
        // osquery's default --host_identifier is the hostname; two machines can share one.
        var identity = TestHostIdentity.New();
        var hostname = "mac-" + identity.Uuid[..8].ToLowerInvariant();
        var body = EnrollBody(AgentProfile.MacOs14, identity);
        body["host_details"]!["system_info"]!.AsObject().Remove("uuid");
        body["host_identifier"] = hostname;
        using var http = fixture.AgentClient();

        using var response = await http.PostJsonAsync("/api/osquery/enroll", body.ToJsonString());

        await ExpectBadAgentRequestAsync(response, $"enroll of {identity.Uuid} identified only by hostname '{hostname}'");
    }

    [Fact]
    public async Task Enroll_WithEmptySystemInfoUuidAndAUuidHostIdentifier_EnrollsByTheHostIdentifier()
    {
        // Some VMs and containers cannot read their hardware UUID; osquery then reports it empty.
        var identity = TestHostIdentity.New();
        var body = EnrollBody(AgentProfile.Ubuntu, identity);
        body["host_details"]!["system_info"]!["uuid"] = string.Empty;
        using var http = fixture.AgentClient();

        using var response = await http.PostJsonAsync("/api/osquery/enroll", body.ToJsonString());

        var enrolled = await ExpectStatusAsync(response, HttpStatusCode.OK, $"enroll of {identity.Uuid} with an empty uuid");
        Assert.StartsWith(identity.Uuid + ":", Text(enrolled, "node_key"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enroll_WithOnlyAUuidHostIdentifier_EnrollsThatHost()
    {
        var identity = TestHostIdentity.New();
        var body = new JsonObject
        {
            ["enroll_secret"] = ApiFactory.EnrollSecret,
            ["host_identifier"] = identity.Uuid.ToLowerInvariant(),
        };
        using var http = fixture.AgentClient();
        using var operators = fixture.OperatorClient();

        using var response = await http.PostJsonAsync("/api/osquery/enroll", body.ToJsonString());

        var enrolled = await ExpectStatusAsync(response, HttpStatusCode.OK, $"enroll of {identity.Uuid} by host_identifier");
        Assert.StartsWith(identity.Uuid + ":", Text(enrolled, "node_key"), StringComparison.Ordinal);
        var host = await operators.GetHostAsync(identity.Uuid);
        Assert.Equal(identity.Uuid, Text(host["details"], "hardware_uuid"));
    }

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Endpoint_WithMalformedBody_Returns400NotNodeInvalid(string endpoint, string body)
    {
        using var http = fixture.AgentClient();

        using var response = await http.PostJsonAsync($"/api/osquery/{endpoint}", body);

        await ExpectBadAgentRequestAsync(response, $"{endpoint} with body '{body}'");
    }

    [Theory]
    [MemberData(nameof(NodeKeysOfWrongType))]
    public async Task CheckIn_WithNodeKeyOfWrongType_Returns400NotNodeInvalid(string nodeKey)
    {
        using var http = fixture.AgentClient();

        foreach (var endpoint in s_checkIns)
        {
            using var response = await http.PostJsonAsync($"/api/osquery/{endpoint}", $"{{\"node_key\": {nodeKey}}}");

            await ExpectBadAgentRequestAsync(response, $"{endpoint} with node_key {nodeKey}");
        }
    }

    [Fact]
    public async Task CheckIn_WithoutNodeKey_Returns400NotNodeInvalid()
    {
        using var http = fixture.AgentClient();

        foreach (var endpoint in s_checkIns)
        {
            using var response = await http.PostJsonAsync($"/api/osquery/{endpoint}", "{\"queries\": {}}");

            await ExpectBadAgentRequestAsync(response, $"{endpoint} without node_key");
        }
    }

    [Theory]
    [MemberData(nameof(CheckInsOnBothPrefixes))]
    public async Task CheckIn_WithUnknownNodeKey_Returns401NodeInvalid(string prefix, string endpoint)
    {
        var unknown = TestHostIdentity.New().Uuid;
        using var http = fixture.AgentClient();

        string[] nodeKeys = [$"{unknown}:made-up-secret", "no-colon-at-all", string.Empty, "abc:secret", $"{unknown}:"];

        foreach (var nodeKey in nodeKeys)
        {
            using var response = await http.PostJsonAsync($"{prefix}/{endpoint}", NodeKeyBody(nodeKey));

            await ExpectNodeInvalidAsync(response, $"{prefix}/{endpoint} with node key '{nodeKey}'");
        }
    }

    [Theory]
    [InlineData("/api/osquery")]
    [InlineData("/api/v1/osquery")]
    public async Task CheckIn_WithNodeKeyReplacedByReEnroll_Returns401NodeInvalid(string prefix)
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);
        var staleKey = agent.NodeKey!;
        // The same secret after a lower-case host id is still the replaced key.
        var staleLowered = agent.HostId.ToLowerInvariant() + staleKey[staleKey.IndexOf(':', StringComparison.Ordinal)..];

        await agent.EnrollAsync();

        Assert.NotEqual(staleKey, agent.NodeKey);
        foreach (var endpoint in s_checkIns)
        {
            var path = $"{prefix}/{endpoint}";
            using var stale = await http.PostJsonAsync(path, NodeKeyBody(staleKey));
            await ExpectNodeInvalidAsync(stale, $"host {agent.HostId}: {path} with the replaced key");

            using var lowered = await http.PostJsonAsync(path, NodeKeyBody(staleLowered));
            await ExpectNodeInvalidAsync(lowered, $"host {agent.HostId}: {path} with the replaced key in lower case");

            using var current = await http.PostJsonAsync(path, NodeKeyBody(agent.NodeKey!));
            await ExpectStatusAsync(current, HttpStatusCode.OK, $"host {agent.HostId}: {path} with the new key");
        }
    }

    [Fact]
    public async Task CheckIns_OnTheV1Aliases_ServeTheSameProtocol()
    {
        var identity = TestHostIdentity.New();
        using var http = fixture.AgentClient();
        using var operators = fixture.OperatorClient();
        var enroll = Payloads.Osquery(AgentProfile.MacOs14.EnrollFile, identity);
        using var enrolled = await http.PostJsonAsync("/api/v1/osquery/enroll", enroll);
        var nodeKey = Text(await ExpectStatusAsync(enrolled, HttpStatusCode.OK, $"v1 enroll of {identity.Uuid}"), "node_key")!;
        (await operators.RefetchAsync(identity.Uuid)).Dispose();

        using var config = await http.PostJsonAsync("/api/v1/osquery/config", NodeKeyBody(nodeKey));
        using var read = await http.PostJsonAsync("/api/v1/osquery/distributed/read", NodeKeyBody(nodeKey));
        var handedOut = await ExpectStatusAsync(read, HttpStatusCode.OK, $"v1 read of {identity.Uuid}");
        var queries = handedOut["queries"]!.AsObject().Select(q => q.Key).ToList();
        using var write = await http.PostJsonAsync("/api/v1/osquery/distributed/write", WriteBody(nodeKey, identity, queries));
        using var log = await http.PostJsonAsync("/api/v1/osquery/log", NodeKeyBody(nodeKey));

        var configured = await ExpectStatusAsync(config, HttpStatusCode.OK, $"v1 config of {identity.Uuid}");
        Assert.Equal(10, Int(configured["options"], "distributed_interval"));
        Assert.Contains("fleet_detail_query_os_version", queries);
        await ExpectStatusAsync(write, HttpStatusCode.OK, $"v1 write of {identity.Uuid}");
        await ExpectStatusAsync(log, HttpStatusCode.OK, $"v1 log of {identity.Uuid}");
        var host = await operators.GetHostAsync(identity.Uuid);
        Assert.Equal("verified", Text(host["refetch"], "status"));
    }

    [Fact]
    public async Task Write_WithQueriesNotAnObject_Returns400AndChangesNothing()
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);

        foreach (var queries in new[] { "[]", "\"os_version\"", "42" })
        {
            using var response = await http.PostJsonAsync(
                WritePath, $"{{\"node_key\": \"{agent.NodeKey}\", \"queries\": {queries}}}");

            await ExpectBadAgentRequestAsync(response, $"host {agent.HostId}: write with queries {queries}");
        }

        await ExpectNoResultsIngestedAsync(agent.HostId);
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("[\"row\"]")]
    [InlineData("[[{\"version\": \"14.1.2\"}]]")]
    [InlineData("[{\"version\": \"14.1.2\"}, null]")]
    [InlineData("{\"version\": \"14.1.2\"}")]
    public async Task Write_WithRowThatIsNotAnObject_Returns400AndChangesNothing(string rows)
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);

        using var response = await http.PostJsonAsync(
            WritePath,
            $"{{\"node_key\": \"{agent.NodeKey}\", \"queries\": {{\"fleet_detail_query_os_version\": {rows}}}}}");

        await ExpectBadAgentRequestAsync(response, $"host {agent.HostId}: write with rows {rows}");
        await ExpectNoResultsIngestedAsync(agent.HostId);
    }

    [Theory]
    [InlineData("\"abc\"")]
    [InlineData("true")]
    [InlineData("1.5")]
    [InlineData("{}")]
    [InlineData("99999999999")]
    public async Task Write_WithStatusThatIsNotAnInteger_Returns400AndChangesNothing(string status)
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);

        var body = new JsonObject
        {
            ["node_key"] = agent.NodeKey,
            ["queries"] = new JsonObject
            {
                ["fleet_detail_query_uptime"] = new JsonArray(new JsonObject { ["total_seconds"] = "5" }),
            },
            ["statuses"] = new JsonObject { ["fleet_detail_query_uptime"] = JsonNode.Parse(status) },
        };

        using var response = await http.PostJsonAsync(WritePath, body.ToJsonString());

        await ExpectBadAgentRequestAsync(response, $"host {agent.HostId}: write with status {status}");
        await ExpectNoResultsIngestedAsync(agent.HostId);
    }

    [Fact]
    public async Task Write_WithOversizedBody_Returns413NotNodeInvalid()
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);
        var padding = new string('x', 1024 * 1024);

        var body = new JsonObject { ["node_key"] = agent.NodeKey, ["queries"] = new JsonObject(), ["padding"] = padding };

        using var response = await http.PostJsonAsync(WritePath, body.ToJsonString());

        var error = await ExpectStatusAsync(response, HttpStatusCode.RequestEntityTooLarge, $"host {agent.HostId}: write of more than 1 MiB");
        Assert.Equal(false, error["node_invalid"]?.GetValue<bool>());
    }

    [Fact]
    public async Task Endpoint_WithJsonNestedDeeperThanSixteen_Returns400NotNodeInvalid()
    {
        var deep = new string('[', 40) + new string(']', 40);
        using var http = fixture.AgentClient();

        foreach (var endpoint in s_endpoints)
        {
            using var response = await http.PostJsonAsync($"/api/osquery/{endpoint}", $"{{\"node_key\": {deep}}}");

            await ExpectBadAgentRequestAsync(response, $"{endpoint} with JSON nested 40 deep");
        }
    }

    [Fact]
    public async Task Config_WithCurrentNodeKey_ReturnsTheAgentOptions()
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.Ubuntu);

        using var response = await agent.PostAsync("/api/osquery/config", agent.NodeKeyBody());

        var config = await ExpectStatusAsync(response, HttpStatusCode.OK, $"config of host {agent.HostId}");
        Assert.Equal(10, Int(config["options"], "distributed_interval"));
        Assert.Equal(60, Int(config["options"], "config_refresh"));
        Assert.False(config["options"]!["disable_distributed"]!.GetValue<bool>(), $"host {agent.HostId}: distributed disabled");
        Assert.NotNull(config["schedule"]);
    }

    private async Task ExpectNoResultsIngestedAsync(string hostId)
    {
        using var operators = fixture.OperatorClient();
        var host = await operators.GetHostAsync(hostId);

        Assert.True(host["detail_updated_at"] is null, $"host {hostId}: a refused write was ingested: {Show(host)}");
        Assert.Equal("14.1.2", Text(host["details"], "os_version"));
    }

    private static JsonObject EnrollBody(AgentProfile profile, TestHostIdentity identity) =>
        JsonNode.Parse(Payloads.Osquery(profile.EnrollFile, identity))!.AsObject();

    private static string NodeKeyBody(string nodeKey) => new JsonObject { ["node_key"] = nodeKey }.ToJsonString();

    private static string WriteBody(string nodeKey, TestHostIdentity identity, IEnumerable<string> names)
    {
        var rows = Payloads.WriteQueries(AgentProfile.MacOs14.WriteFile, identity);
        var queries = new JsonObject();
        var statuses = new JsonObject();
        foreach (var name in names)
        {
            queries[name] = rows[name]?.DeepClone() ?? new JsonArray();
            statuses[name] = 0;
        }

        return new JsonObject { ["node_key"] = nodeKey, ["queries"] = queries, ["statuses"] = statuses }.ToJsonString();
    }
}
