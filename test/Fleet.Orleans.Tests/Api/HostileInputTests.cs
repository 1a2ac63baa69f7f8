using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Api;

/// <summary>Inputs a README walk-through broke once: each stays a regression test.</summary>
public sealed class HostileInputTests(ClusterFixture fixture)
{
    public static TheoryData<string> Endpoints => new()
    {
        "/api/osquery/config",
        "/api/osquery/distributed/read",
        "/api/osquery/distributed/write",
        "/api/osquery/log",
        "/api/osquery/enroll",
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Body_WithInvalidUtf8InAString_Returns400NotA500(string path)
    {
        using var http = fixture.AgentClient();
        byte[] invalid = [0xff, 0xfe];
        var bytes = Encoding.UTF8.GetBytes("{\"node_key\":\"ABCDEF01-0000-4000-8000-000000000001:x")
            .Concat(invalid)
            .Concat(Encoding.UTF8.GetBytes("\", \"enroll_secret\":\"x"))
            .Concat(invalid)
            .Concat(Encoding.UTF8.GetBytes("\"}"))
            .ToArray();
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await http.PostAsync(path, content, ApiTestKit.TestAborted);

        await ApiTestKit.ExpectBadAgentRequestAsync(response, $"POST {path} with invalid UTF-8");
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Body_WithLoneSurrogateEscape_Returns400NotA500(string path)
    {
        using var http = fixture.AgentClient();

        using var response = await http.PostJsonAsync(path, "{\"node_key\":\"\\ud800\",\"enroll_secret\":\"\\ud800\"}");

        await ApiTestKit.ExpectBadAgentRequestAsync(response, $"POST {path} with a lone surrogate");
    }

    [Fact]
    public async Task Enroll_WithHugeHostname_KeepsTheHostWithTheNameCut()
    {
        using var http = fixture.AgentClient();
        using var operators = fixture.OperatorClient();
        var identity = TestHostIdentity.New();
        var body = JsonNode.Parse(Payloads.Osquery(AgentProfile.Ubuntu.EnrollFile, identity))!;
        // Long, yet within the enroll body limit (64 KiB): the name is cut, not the enrollment refused.
        body["host_details"]!["system_info"]!["hostname"] = new string('h', 60_000);

        using var response = await http.PostJsonAsync("/api/osquery/enroll", body.ToJsonString());
        var host = await operators.GetHostAsync(identity.Uuid);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var hostname = ApiTestKit.Text(host["details"], "hostname");
        Assert.True(hostname?.Length == 255, $"host {identity.Uuid}: hostname kept {hostname?.Length} characters, expected 255");
    }

    [Fact]
    public async Task ReEnroll_WithOnlyAnIdentifier_KeepsTheVitalsAlreadyAccepted()
    {
        using var http = fixture.AgentClient();
        using var operators = fixture.OperatorClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);
        await operators.RefetchAsync(agent.HostId);
        await agent.CheckInAsync();
        var before = (await operators.GetHostAsync(agent.HostId))["details"]!.ToJsonString();

        var bare = new JsonObject { ["enroll_secret"] = ApiFactory.EnrollSecret, ["host_identifier"] = agent.HostId.ToLowerInvariant() };
        using var response = await http.PostJsonAsync("/api/osquery/enroll", bare.ToJsonString());
        var after = (await operators.GetHostAsync(agent.HostId))["details"]!.ToJsonString();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(before, after);
    }

    [Theory]
    [InlineData("--------")]
    [InlineData("--------0")]
    public async Task Get_WithIdOfTooFewHexDigits_Returns400(string hostId)
    {
        using var operators = fixture.OperatorClient();

        using var response = await operators.GetAsync($"/api/v1/hosts/{hostId}", ApiTestKit.TestAborted);

        await ApiTestKit.ExpectInvalidParameterAsync(response, "host_id", $"GET host '{hostId}'");
    }
}
