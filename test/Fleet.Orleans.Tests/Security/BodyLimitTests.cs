using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Api.Agents;
using Fleet.Api.Mdm;
using Fleet.Api.Security;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Security;

/// <summary>
/// Body limits per endpoint, sized to real payloads: over the limit is 413 (problem+json for operators, osquery's
/// JSON error for agents), at the largest real request it is read. Plists with a DTD are refused before parsing.
/// </summary>
public sealed class BodyLimitTests(ClusterFixture fixture)
{
    private const string Lols =
        "<!ENTITY lol1 \"&lol0;&lol0;&lol0;&lol0;&lol0;&lol0;&lol0;&lol0;&lol0;&lol0;\">" +
        "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">" +
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">";

    [Fact]
    public async Task RefetchJob_OfAThousandHostIds_IsRead()
    {
        using var http = fixture.OperatorClient();
        var ids = Enumerable.Range(0, 1000).Select(_ => Guid.NewGuid().ToString().ToUpperInvariant()).ToArray();
        var body = new JsonObject { ["host_ids"] = new JsonArray([.. ids.Select(i => JsonValue.Create(i))]) }.ToJsonString();

        using var response = await http.PostJsonAsync("/api/v1/refetch_jobs", body);

        var job = await ExpectStatusAsync(response, HttpStatusCode.Accepted, $"refetch job of 1000 ids ({body.Length} bytes)");
        Assert.Equal(1000, Int(job, "host_ids"));
    }

    [Fact]
    public async Task OperatorBody_OverTheLimit_Is413Problem_AndStartsNothing()
    {
        using var http = fixture.OperatorClient();
        var ids = string.Join(",", Enumerable.Range(0, 4000).Select(_ => $"\"{Guid.NewGuid()}\""));
        var body = $"{{\"host_ids\": [{ids}]}}";
        Assert.True(Encoding.UTF8.GetByteCount(body) > OperatorRequests.DefaultMaxBodyBytes);

        using var response = await http.PostJsonAsync("/api/v1/refetch_jobs", body);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "Payload too large", "refetch job of 4000 ids");
        Assert.Equal($"The body is larger than {OperatorRequests.DefaultMaxBodyBytes} bytes, the most this endpoint takes.", Text(problem, "detail"));
        Assert.Null(response.Headers.Location);
    }

    [Fact]
    public async Task OperatorBody_SentChunkedOverTheLimit_Is413Problem()
    {
        using var http = fixture.OperatorClient();
        var team = "limit-" + Guid.NewGuid().ToString("N")[..12];
        var padding = new string('x', OperatorRequests.DefaultMaxBodyBytes);
        using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes($"{{\"display_name\": \"{padding}\"}}")));
        content.Headers.ContentType = new("application/json");

        using var response = await http.PutAsync($"/api/v1/configuration_profiles/com.example.big?team_id={team}", content, TestAborted);

        await ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "Payload too large", "chunked profile over the limit");
    }

    [Theory]
    [InlineData("config", OsqueryMessages.MaxNodeKeyBodyBytes)]
    [InlineData("distributed/read", OsqueryMessages.MaxNodeKeyBodyBytes)]
    [InlineData("distributed/write", OsqueryMessages.MaxWriteBodyBytes)]
    [InlineData("enroll", OsqueryMessages.MaxEnrollBodyBytes)]
    [InlineData("log", OsqueryMessages.MaxLogBodyBytes)]
    public async Task AgentBody_OverItsEndpointsLimit_Is413WithAJsonErrorThatIsNotNodeInvalid(string endpoint, int limit)
    {
        using var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);
        var body = new JsonObject { ["node_key"] = agent.NodeKey, ["padding"] = new string('x', limit) }.ToJsonString();

        using var response = await http.PostJsonAsync($"/api/osquery/{endpoint}", body);

        var error = await ExpectStatusAsync(response, HttpStatusCode.RequestEntityTooLarge, $"{endpoint} of {body.Length} bytes");
        Assert.Equal($"The body is larger than {limit} bytes.", Text(error, "error"));
        Assert.Equal(false, error["node_invalid"]?.GetValue<bool>());
    }

    [Fact]
    public void WriteLimit_IsAtLeastFiftyTimesTheLargestRealWrite()
    {
        var largest = new[] { "macos_14.1.2", "macos_13.6.2", "ubuntu_22.04" }
            .Max(name => new FileInfo(Path.Combine(Payloads.Root, "osquery-perf", "rendered", $"{name}.distributed_write.json")).Length);

        Assert.Equal(4230, largest);
        Assert.True(OsqueryMessages.MaxWriteBodyBytes >= 50 * largest, $"write limit {OsqueryMessages.MaxWriteBodyBytes} vs largest {largest}");
    }

    [Fact]
    public async Task CheckIn_WithABillionLaughsDtd_Is400Problem_WithoutExpanding()
    {
        using var http = fixture.AgentClient();
        var udid = Guid.NewGuid().ToString().ToUpperInvariant();

        using var response = await PutAsync(http, "/mdm/checkin", BillionLaughs(udid), MdmApi.CheckInContentType, udid);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid check-in", "billion-laughs check-in");
        Assert.Contains("DTDs are refused", Text(problem, "detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CommandReport_WithABillionLaughsDtd_Is200_AndDoesNothing()
    {
        using var http = fixture.AgentClient();
        using var operatorHttp = fixture.OperatorClient();
        var udid = Guid.NewGuid().ToString().ToUpperInvariant();

        using var response = await PutAsync(http, "/mdm/connect", BillionLaughs(udid), MdmApi.CommandContentType, udid);
        using var host = await operatorHttp.GetAsync($"/api/v1/hosts/{udid}", TestAborted);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestAborted));
        Assert.Equal(HttpStatusCode.NotFound, host.StatusCode);
    }

    private static string BillionLaughs(string udid) =>
        $"<?xml version=\"1.0\"?>\n<!DOCTYPE plist [<!ENTITY lol0 \"lol\">{Lols}]>\n" +
        $"<plist version=\"1.0\"><dict><key>UDID</key><string>{udid}</string><key>MessageType</key><string>&lol3;</string>" +
        "<key>Status</key><string>Acknowledged</string><key>CommandUUID</key><string>&lol3;</string></dict></plist>";

    // Signed, so the request passes device authentication and meets the rules for bad input.
    private static Task<HttpResponseMessage> PutAsync(HttpClient http, string path, string body, string contentType, string udid) =>
        http.PutAsync(path, MdmSigning.Content(Encoding.UTF8.GetBytes(body), contentType, MdmSigning.IdentityFor(udid)), TestAborted);
}
