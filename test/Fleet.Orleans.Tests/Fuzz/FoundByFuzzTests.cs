using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Fuzz;

/// <summary>Inputs the fuzz suite found answering 500, each kept as it was generated.</summary>
public sealed class FoundByFuzzTests(ClusterFixture fixture)
{
    // Invalid UTF-8 inside a JSON string bound as a JsonElement: the handler's GetString threw, a 500.
    // PUT team: seed 3XBGL9m25Aa7 (byte 17 set to 0xdb); profiles: seed 0KLvfhhdAzu1 (E2 82 at 24);
    // refetch_jobs: seed abUEkUW6wpX5 (F8 88 80 80 80 at 73).
    [Theory]
    [InlineData("PUT", "/api/v1/hosts/49DFBA8B-804F-45C6-8A03-5078D6480629/team", "{\"team_id\":\"fuzz-", new byte[] { 0xdb }, "ther-team\"}")]
    [InlineData("PUT", "/api/v1/configuration_profiles/com.example.found?team_id=fuzz-found", "{\"display_name\":\"Fuzz pr", new byte[] { 0xe2, 0x82 }, "ofile\",\"checksum\":\"fuzz-v2\"}")]
    [InlineData("POST", "/api/v1/refetch_jobs", "{\"host_ids\":[\"e2310484-ced8-41fc-9877-cb46215ff408\",\"3294e81c-3766-4e8d-a", new byte[] { 0xf8, 0x88, 0x80, 0x80, 0x80 }, "539-b2e0129bd6de\"],\"rate\":5}")]
    public async Task OperatorBody_WithInvalidUtf8InAString_Is400NamingTheBody(string method, string url, string before, byte[] invalid, string after)
    {
        using var operators = fixture.OperatorClient();
        byte[] body = [.. Encoding.UTF8.GetBytes(before), .. invalid, .. Encoding.UTF8.GetBytes(after)];
        using var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await operators.SendAsync(request, ApiTestKit.TestAborted);

        await ApiTestKit.ExpectInvalidParameterAsync(response, "body", $"{method} {url} with invalid UTF-8 in a string");
    }

    [Fact]
    public async Task SetTeam_WithALoneSurrogateEscape_Is400AndLeavesTheTeam()
    {
        using var operators = fixture.OperatorClient();
        var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);

        using var response = await operators.PutAsync(
            $"/api/v1/hosts/{agent.HostId}/team",
            new StringContent("{\"team_id\":\"\\ud800\"}", Encoding.UTF8, "application/json"),
            ApiTestKit.TestAborted);
        var host = await operators.GetHostAsync(agent.HostId);

        await ApiTestKit.ExpectInvalidParameterAsync(response, "body", $"PUT team of {agent.HostId} with a lone surrogate");
        Assert.True(host["team_id"] is null, $"host {agent.HostId}: team_id {ApiTestKit.Show(host["team_id"])} after a refused move, expected none");
    }

    // An empty JSON body: seed fOlbNQOrKtk4 (truncated at 0) on a profile declaration; PUT team answered 500 too.
    [Theory]
    [InlineData("PUT", "/api/v1/configuration_profiles/com.example.fuzz.witness", "team_id")]
    [InlineData("PUT", "/api/v1/configuration_profiles/com.example.fuzz.witness?team_id=fuzz-found", "body")]
    [InlineData("PUT", "/api/v1/hosts/49DFBA8B-804F-45C6-8A03-5078D6480629/team", "team_id")]
    [InlineData("POST", "/api/v1/refetch_jobs", "body")]
    public async Task OperatorBody_Empty_Is400NamingWhatIsMissing(string method, string url, string parameter)
    {
        using var operators = fixture.OperatorClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = new ByteArrayContent([]) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await operators.SendAsync(request, ApiTestKit.TestAborted);

        await ApiTestKit.ExpectInvalidParameterAsync(response, parameter, $"{method} {url} with an empty body");
    }
}
