using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Api;

/// <summary>
/// The operator API for configuration profiles and teams: validation, roles, and the JSON shapes,
/// including the profile and team fields that hosts gained.
/// </summary>
public sealed class ConfigurationProfileApiTests(ClusterFixture fixture)
{
    private const string ValidBody = "{\"display_name\":\"Firewall\",\"checksum\":\"sha256:0a1b2c\"}";

    public static TheoryData<string, string, string> InvalidUpserts => new()
    {
        { "com.example.firewall", ValidBody, "team_id" },
        { "com.example.firewall?team_id=", ValidBody, "team_id" },
        { "com.example.firewall?team_id=has%20space", ValidBody, "team_id" },
        { "com.example.firewall?team_id=" + new string('t', 65), ValidBody, "team_id" },
        { new string('i', 256) + "?team_id=t1", ValidBody, "identifier" },
        { "com.example%01firewall?team_id=t1", ValidBody, "identifier" },
        { "com.example%2Ffirewall?team_id=t1", ValidBody, "identifier" },
        { "com.example.firewall?team_id=t1", "{\"checksum\":\"abc\"}", "display_name" },
        { "com.example.firewall?team_id=t1", "{\"display_name\":\"\",\"checksum\":\"abc\"}", "display_name" },
        { "com.example.firewall?team_id=t1", "{\"display_name\":7,\"checksum\":\"abc\"}", "display_name" },
        { "com.example.firewall?team_id=t1", $"{{\"display_name\":\"{new string('d', 256)}\",\"checksum\":\"abc\"}}", "display_name" },
        { "com.example.firewall?team_id=t1", "{\"display_name\":\"Firewall\"}", "checksum" },
        { "com.example.firewall?team_id=t1", "{\"display_name\":\"Firewall\",\"checksum\":\"\"}", "checksum" },
        { "com.example.firewall?team_id=t1", "{\"display_name\":\"Firewall\",\"checksum\":\"a b\"}", "checksum" },
        { "com.example.firewall?team_id=t1", "{\"display_name\":\"Firewall\",\"checksum\":\"sha256:é\"}", "checksum" },
        { "com.example.firewall?team_id=t1", $"{{\"display_name\":\"Firewall\",\"checksum\":\"{new string('c', 129)}\"}}", "checksum" },
        { "com.example.firewall?team_id=t1", "[]", "body" },
    };

    [Theory]
    [MemberData(nameof(InvalidUpserts))]
    public async Task Upsert_WithInvalidInput_Returns400ProblemNamingTheField(string pathAndQuery, string body, string field)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.PutAsync($"/api/v1/configuration_profiles/{pathAndQuery}", Json(body), TestAborted);

        await ExpectInvalidParameterAsync(response, field, $"PUT {pathAndQuery} with {body}");
    }

    [Fact]
    public async Task Upsert_WithABodyThatIsNotJson_Returns400Problem()
    {
        using var http = fixture.OperatorClient();

        using var response = await http.PutAsync("/api/v1/configuration_profiles/com.example.x?team_id=t1", Json("{not json"), TestAborted);

        var body = await ExpectStatusAsync(response, HttpStatusCode.BadRequest, "PUT with a body that is not JSON");
        Assert.Equal(ProblemJson, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(400, Int(body, "status"));
    }

    [Theory]
    [InlineData("GET", "/api/v1/configuration_profiles", "team_id")]
    [InlineData("GET", "/api/v1/configuration_profiles?team_id=no/slash", "team_id")]
    [InlineData("GET", "/api/v1/configuration_profiles/summary?team_id=bad%20team", "team_id")]
    [InlineData("DELETE", "/api/v1/configuration_profiles/com.example.x", "team_id")]
    [InlineData("DELETE", "/api/v1/configuration_profiles/" + "x%7F?team_id=t1", "identifier")]
    [InlineData("GET", "/api/v1/hosts?os_settings=bogus", "os_settings")]
    [InlineData("GET", "/api/v1/hosts?os_settings=none", "os_settings")]
    [InlineData("GET", "/api/v1/hosts?team_id=", "team_id")]
    [InlineData("GET", "/api/v1/hosts?team_id=a.b", "team_id")]
    public async Task ReadOrDelete_WithInvalidParameter_Returns400ProblemNamingIt(string method, string url, string parameter)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), url), TestAborted);

        await ExpectInvalidParameterAsync(response, parameter, $"{method} {url}");
    }

    [Theory]
    [InlineData("not-a-host", "{\"team_id\":\"t1\"}", "host_id")]
    [InlineData("0A1B2C3D-0000-4000-8000-000000000001", "{}", "team_id")]
    [InlineData("0A1B2C3D-0000-4000-8000-000000000001", "{\"team\":\"t1\"}", "team_id")]
    [InlineData("0A1B2C3D-0000-4000-8000-000000000001", "{\"team_id\":7}", "team_id")]
    [InlineData("0A1B2C3D-0000-4000-8000-000000000001", "{\"team_id\":\"\"}", "team_id")]
    [InlineData("0A1B2C3D-0000-4000-8000-000000000001", "{\"team_id\":\"two words\"}", "team_id")]
    [InlineData("0A1B2C3D-0000-4000-8000-000000000001", "\"t1\"", "team_id")]
    public async Task SetTeam_WithInvalidInput_Returns400ProblemNamingTheField(string hostId, string body, string field)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.PutAsync($"/api/v1/hosts/{hostId}/team", Json(body), TestAborted);

        await ExpectInvalidParameterAsync(response, field, $"PUT hosts/{hostId}/team with {body}");
    }

    public static TheoryData<string, string> Endpoints => new()
    {
        { "GET", "/api/v1/configuration_profiles?team_id=t1" },
        { "GET", "/api/v1/configuration_profiles/summary" },
        { "PUT", "/api/v1/configuration_profiles/com.example.x?team_id=t1" },
        { "DELETE", "/api/v1/configuration_profiles/com.example.x?team_id=t1" },
        { "PUT", "/api/v1/hosts/0A1B2C3D-0000-4000-8000-000000000001/team" },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Anything_WithoutToken_Returns401Problem(string method, string url)
    {
        using var http = fixture.AgentClient();

        using var response = await http.SendAsync(Request(method, url), TestAborted);

        await ExpectUnauthorizedAsync(response, $"{method} {url} without a token");
    }

    [Theory]
    [InlineData("PUT", "/api/v1/configuration_profiles/com.example.x?team_id=t1")]
    [InlineData("DELETE", "/api/v1/configuration_profiles/com.example.x?team_id=t1")]
    [InlineData("PUT", "/api/v1/hosts/0A1B2C3D-0000-4000-8000-000000000001/team")]
    public async Task Change_WithObserverToken_Returns403Problem(string method, string url)
    {
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.SendAsync(Request(method, url), TestAborted);

        await ExpectProblemAsync(response, HttpStatusCode.Forbidden, "Forbidden", $"{method} {url} as observer");
    }

    [Fact]
    public async Task HostView_ShowsTeamOsSettingsProfilesAndMdmInSnakeCase()
    {
        using var agents = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        var host = await http.GetHostAsync(agent.HostId);

        ExpectFields(host, ["team_id", "os_settings", "profiles", "mdm"], $"host {agent.HostId}");
        Assert.Null(host["team_id"]);
        Assert.Equal("none", Text(host, "os_settings"));
        Assert.Empty(host["profiles"]!.AsArray());
        Assert.Null(host["mdm"]);
    }

    [Fact]
    public async Task HostList_RowsCarryTeamAndOsSettings()
    {
        using var agents = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(agents, AgentProfile.Ubuntu);
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        var rows = await EventuallyAsync(
            () => http.ListRowsAsync("platform=linux&limit=500"),
            rs => rs.Any(r => Text(r, "host_id") == agent.HostId),
            $"host {agent.HostId} listed",
            describe: rs => $"{rs.Count} rows");

        var row = rows.Single(r => Text(r, "host_id") == agent.HostId);
        ExpectFields(row, ["team_id", "os_settings"], $"row of {agent.HostId}");
        Assert.Null(row["team_id"]);
        Assert.Equal("none", Text(row, "os_settings"));
    }

    // The rest reach the team grain, the host's team and profile methods, and the index's OS-settings counts.

    [Fact]
    public async Task Profiles_UpsertListDelete_HaveTheDocumentedShapes()
    {
        using var http = fixture.OperatorClient();
        using var observer = fixture.OperatorClient(ApiFactory.ObserverToken);
        var team = NewTeam();

        using var put = await http.PutAsync($"/api/v1/configuration_profiles/com.example.firewall?team_id={team}", Json(ValidBody), TestAborted);
        var declared = await ExpectStatusAsync(put, HttpStatusCode.OK, $"PUT firewall in {team}");
        using var list = await observer.GetAsync($"/api/v1/configuration_profiles?team_id={team}", TestAborted);
        var profiles = await ExpectStatusAsync(list, HttpStatusCode.OK, $"GET profiles of {team}");
        using var delete = await http.DeleteAsync($"/api/v1/configuration_profiles/com.example.firewall?team_id={team}", TestAborted);
        using var again = await http.DeleteAsync($"/api/v1/configuration_profiles/com.example.firewall?team_id={team}", TestAborted);

        ExpectTexts(declared, new Dictionary<string, string?>
        {
            ["identifier"] = "com.example.firewall",
            ["display_name"] = "Firewall",
            ["checksum"] = "sha256:0a1b2c",
        }, $"declared profile in {team}");
        Assert.NotNull(declared["uploaded_at"]);
        Assert.Equal(team, Text(profiles, "team_id"));
        Assert.True(profiles["version"]?.GetValue<long>() >= 1, $"team {team}: version {Show(profiles["version"])}");
        Assert.Equal(Show(declared), Show(profiles["profiles"]!.AsArray().Single()));
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await ExpectProblemAsync(again, HttpStatusCode.NotFound, "Unknown profile", $"second DELETE in {team}");
    }

    [Fact]
    public async Task Summary_ForAnEmptyTeam_CountsZeroInEveryStatus()
    {
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        var team = NewTeam();

        using var response = await http.GetAsync($"/api/v1/configuration_profiles/summary?team_id={team}", TestAborted);

        var summary = await ExpectStatusAsync(response, HttpStatusCode.OK, $"summary of {team}");
        Assert.Equal(
            ["verified", "verifying", "pending", "failed"],
            summary.Select(p => p.Key));
        Assert.All(summary, p => Assert.Equal(0, p.Value!.GetValue<int>()));
    }

    [Fact]
    public async Task SetTeam_MovesAKnownHostAndRefusesAnUnknownOne()
    {
        using var agents = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var team = NewTeam();
        var unknown = Guid.NewGuid().ToString().ToUpperInvariant();

        using var joined = await http.PutAsync($"/api/v1/hosts/{agent.HostId}/team", Json($"{{\"team_id\":\"{team}\"}}"), TestAborted);
        var inTeam = await ExpectStatusAsync(joined, HttpStatusCode.OK, $"move {agent.HostId} to {team}");
        using var left = await http.PutAsync($"/api/v1/hosts/{agent.HostId}/team", Json("{\"team_id\":null}"), TestAborted);
        var noTeam = await ExpectStatusAsync(left, HttpStatusCode.OK, $"take {agent.HostId} out of {team}");
        using var missing = await http.PutAsync($"/api/v1/hosts/{unknown}/team", Json($"{{\"team_id\":\"{team}\"}}"), TestAborted);

        Assert.Equal(team, Text(inTeam, "team_id"));
        Assert.Equal(agent.HostId, Text(inTeam, "host_id"));
        Assert.True(noTeam.ContainsKey("team_id") && noTeam["team_id"] is null, $"host {agent.HostId}: {Show(noTeam)}");
        await ExpectProblemAsync(missing, HttpStatusCode.NotFound, "Unknown host", $"move unknown host {unknown}");
    }

    [Fact]
    public async Task HostList_FilteredByTeam_ListsOnlyItsMembers()
    {
        using var agents = fixture.AgentClient();
        var member = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        var outsider = await TestAgent.EnrollAsync(agents, AgentProfile.MacOs14);
        using var http = fixture.OperatorClient();
        var team = NewTeam();
        (await http.PutAsync($"/api/v1/hosts/{member.HostId}/team", Json($"{{\"team_id\":\"{team}\"}}"), TestAborted)).Dispose();

        var rows = await EventuallyAsync(
            () => http.ListRowsAsync($"team_id={team}"),
            rs => rs.Count > 0,
            $"team {team} listing {member.HostId}",
            describe: rs => $"{rs.Count} rows");

        Assert.Equal([member.HostId], rows.Select(r => Text(r, "host_id")));
        Assert.Equal(team, Text(rows[0], "team_id"));
        Assert.DoesNotContain(rows, r => Text(r, "host_id") == outsider.HostId);
    }

    private static HttpRequestMessage Request(string method, string url) => new(new HttpMethod(method), url)
    {
        Content = method == "PUT" ? Json(url.Contains("/team", StringComparison.Ordinal) ? "{\"team_id\":\"t1\"}" : ValidBody) : null,
    };

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static string NewTeam() => "team-" + Guid.NewGuid().ToString("N")[..12];
}
