using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Fuzz;

/// <summary>
/// Every operator endpoint that takes input, under odd path ids, odd query strings and generated JSON bodies.
/// Every error is problem+json carrying its status; no 5xx; and a rejected request leaves the witnesses (a host,
/// a finished job, a team's profiles) exactly as they were.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class OperatorFuzzTests(FuzzFixture fixture)
{
    private static readonly string[] s_listFilters =
    [
        "status", "platform", "limit", "cursor", "team_id", "os_version", "os_settings", "certificate_expires_within_days",
        "last_seen_before", "no_such_filter",
    ];

    public static TheoryData<string> Endpoints => new()
    {
        "GET /api/v1/hosts/{host_id}",
        "POST /api/v1/hosts/{host_id}/refetch",
        "PUT /api/v1/hosts/{host_id}/team",
        "GET /api/v1/hosts/identifier/{value}",
        "GET /api/v1/hosts",
        "GET /api/v1/hosts/summary",
        "POST /api/v1/refetch_jobs",
        "GET /api/v1/refetch_jobs/{job_id}",
        "DELETE /api/v1/refetch_jobs/{job_id}",
        "GET /api/v1/refetch_jobs/{job_id}/events",
        "GET /api/v1/configuration_profiles",
        "GET /api/v1/configuration_profiles/summary",
        "PUT /api/v1/configuration_profiles/{identifier}",
        "DELETE /api/v1/configuration_profiles/{identifier}",
        "POST /api/v1/index/shards/{shard}/repair",
        "GET /api/v1/events",
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Endpoint_GeneratedInput_AnswersProblemJsonAndRejectsWithoutChange(string endpoint)
    {
        using var operators = fixture.OperatorClient();
        var witness = await Witness.CreateAsync(fixture, operators);
        var expected = await witness.StateAsync(operators);

        await FuzzChecks.SampleAsync(Calls(endpoint, witness), async call =>
        {
            var context = $"{call.Method} {call.Url} with {call.Body?.ToString() ?? "no body"}";
            using var request = FuzzChecks.Request(call.Method, call.Url, call.Body?.Bytes);

            var answer = await FuzzChecks.SendAsync(operators, request, endpoint, context);
            FuzzChecks.ExpectOperatorAnswer(answer, context);
            var state = await witness.StateAsync(operators);

            Assert.True(!answer.Rejected || state == expected, $"{context}: rejected with {answer.Code} but the witnesses changed from {expected} to {state}");
            expected = state;
        });
    }

    [Fact]
    public async Task AnyEndpoint_WithOddBearerTokens_Is401Problem()
    {
        using var anonymous = fixture.AgentClient();
        var tokens = Gen.Frequency(
            (3, FuzzInputs.OddText(ApiFactory.MaintainerToken)),
            (1, Gen.Int[1000, 100_000].Select(length => new string('t', length))),
            (1, Gen.OneOf("", " ", "Bearer", "null", ApiFactory.MaintainerToken + "\u00e9", ApiFactory.MaintainerToken.ToUpperInvariant())))
            
            // The header's scheme and token may be separated by more than one space, so a padded real token is valid.
            .Where(token => token.Trim() is not (ApiFactory.MaintainerToken or ApiFactory.ObserverToken));
        var gen = Gen.Select(tokens, Gen.OneOf("/api/v1/hosts", "/api/v1/hosts/summary", "/api/v1/configuration_profiles/summary"));

        await FuzzChecks.SampleAsync(gen, async input =>
        {
            var (token, url) = input;
            using var request = FuzzChecks.Request(HttpMethod.Get, url);
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);

            var answer = await FuzzChecks.SendAsync(anonymous, request, "GET (odd bearer token)", FuzzChecks.Shorten(token));

            Assert.True(answer.Code == 401, $"GET {url} with token '{FuzzChecks.Shorten(token)}': expected 401, got {answer.Code}");
            FuzzChecks.ExpectOperatorAnswer(answer, $"GET {url} with an odd token");
        });
    }

    private static Gen<OperatorCall> Calls(string endpoint, Witness w) => endpoint switch
    {
        "GET /api/v1/hosts/{host_id}" => Path(HttpMethod.Get, FuzzInputs.OddId(w.HostId), id => $"/api/v1/hosts/{id}"),
        "POST /api/v1/hosts/{host_id}/refetch" => Path(HttpMethod.Post, FuzzInputs.OddId(w.HostId), id => $"/api/v1/hosts/{id}/refetch"),
        "PUT /api/v1/hosts/{host_id}/team" => Gen.Select(
            Gen.Frequency((1, FuzzInputs.OddId(w.HostId)), (1, Gen.Const(w.HostId))),
            Json("{\"team_id\":\"fuzz-other-team\"}", "team_id"),
            (id, body) => new OperatorCall(HttpMethod.Put, $"/api/v1/hosts/{id}/team", body)),
        "GET /api/v1/hosts/identifier/{value}" => Path(HttpMethod.Get, Gen.OneOf(w.HostId, w.Serial, "test-mac-01").SelectMany(FuzzInputs.OddId), v => $"/api/v1/hosts/identifier/{v}"),
        "GET /api/v1/hosts" => Query("/api/v1/hosts", s_listFilters),
        "GET /api/v1/hosts/summary" => Query("/api/v1/hosts/summary", ["status", "x"]),
        "POST /api/v1/refetch_jobs" => Gen.Frequency(
                (1, Json($"{{\"host_ids\":[\"{Guid.NewGuid()}\",\"{Guid.NewGuid()}\"],\"rate\":5}}", "host_ids")),
                (1, Json($"{{\"filter\":{{\"platform\":\"no-such-platform\",\"team_id\":\"{w.Team}-none\",\"last_seen_before\":\"2000-01-01T00:00:00Z\"}}}}", "filter")))
            // A filter of {} is every host: it would refetch the witness in the background, after the check.
            .Where(body => !Encoding.UTF8.GetString(body.Bytes).Contains("\"filter\":{}", StringComparison.Ordinal))
            .Select(body => new OperatorCall(HttpMethod.Post, "/api/v1/refetch_jobs", body)),
        "GET /api/v1/refetch_jobs/{job_id}" => Path(HttpMethod.Get, FuzzInputs.OddId(w.JobId), id => $"/api/v1/refetch_jobs/{id}"),
        "DELETE /api/v1/refetch_jobs/{job_id}" => Path(HttpMethod.Delete, FuzzInputs.OddId(w.JobId), id => $"/api/v1/refetch_jobs/{id}"),
        "GET /api/v1/refetch_jobs/{job_id}/events" => Path(HttpMethod.Get, FuzzInputs.OddId(w.JobId), id => $"/api/v1/refetch_jobs/{id}/events"),
        "GET /api/v1/configuration_profiles" => Query("/api/v1/configuration_profiles", ["team_id"]),
        "GET /api/v1/configuration_profiles/summary" => Query("/api/v1/configuration_profiles/summary", ["team_id"]),
        "PUT /api/v1/configuration_profiles/{identifier}" => Gen.Select(
            ProfileTarget(w), Json("{\"display_name\":\"Fuzz profile\",\"checksum\":\"fuzz-v2\"}", "display_name"),
            (target, body) => new OperatorCall(HttpMethod.Put, target, body)),
        "DELETE /api/v1/configuration_profiles/{identifier}" => ProfileTarget(w).Select(target => new OperatorCall(HttpMethod.Delete, target, null)),
        "POST /api/v1/index/shards/{shard}/repair" => Path(HttpMethod.Post, FuzzInputs.OddId("3"), shard => $"/api/v1/index/shards/{shard}/repair"),
        "GET /api/v1/events" => Query("/api/v1/events", ["host_id"]),
        _ => throw new ArgumentOutOfRangeException(nameof(endpoint), endpoint, "no generator for this endpoint"),
    };

    private static Gen<OperatorCall> Path(HttpMethod method, Gen<string> ids, Func<string, string> url) =>
        ids.Select(id => new OperatorCall(method, url(id), null));

    /// <summary>One to four parameters, names from <paramref name="names"/> (repeats allowed), odd values.</summary>
    private static Gen<OperatorCall> Query(string path, string[] names) =>
        Gen.Select(Gen.OneOf(names), FuzzInputs.OddQueryValue).Array[1, 4].Select(pairs =>
            new OperatorCall(HttpMethod.Get, path + "?" + string.Join("&", pairs.Select(p => $"{p.Item1}={p.Item2}")), null));

    private static Gen<FuzzBody> Json(string valid, string field) => Gen.Frequency(
        (2, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(valid))),
        (2, FuzzInputs.WrongTypes(valid)),
        (1, FuzzInputs.HostileJson(field)));

    /// <summary>A profile URL: an odd identifier in the witness team, or the witness profile in an odd team.</summary>
    private static Gen<string> ProfileTarget(Witness w) => Gen.Frequency(
        (2, FuzzInputs.OddId(w.ProfileId).Select(id => $"/api/v1/configuration_profiles/{id}?team_id={w.Team}")),
        (1, FuzzInputs.OddQueryValue.Select(team => $"/api/v1/configuration_profiles/{w.ProfileId}?team_id={team}")),
        (1, Gen.Const($"/api/v1/configuration_profiles/{w.ProfileId}")));

    public sealed record OperatorCall(HttpMethod Method, string Url, FuzzBody? Body)
    {
        public override string ToString() => $"{Method} {FuzzChecks.Shorten(Url)} {Body}";
    }

    /// <summary>What rejected input must leave alone: a macOS 14 host, a cancelled job, and a team with one profile.</summary>
    private sealed record Witness(string HostId, string Serial, string JobId, string Team, string ProfileId)
    {
        public static async Task<Witness> CreateAsync(ClusterFixture fixture, HttpClient operators)
        {
            var agent = await TestAgent.EnrollAsync(fixture.AgentClient(), AgentProfile.MacOs14);
            var team = "fuzz-" + Guid.NewGuid().ToString("N")[..12];
            const string profile = "com.example.fuzz.witness";
            using var declared = await operators.PutAsync(
                $"/api/v1/configuration_profiles/{profile}?team_id={team}",
                new StringContent("{\"display_name\":\"Witness\",\"checksum\":\"w-1\"}", Encoding.UTF8, "application/json"),
                ApiTestKit.TestAborted);
            await ApiTestKit.ExpectStatusAsync(declared, System.Net.HttpStatusCode.OK, $"declare {profile} in {team}");
            using var started = await operators.PostJsonAsync("/api/v1/refetch_jobs", $"{{\"host_ids\":[\"{Guid.NewGuid()}\"]}}");
            var job = await ApiTestKit.ExpectStatusAsync(started, System.Net.HttpStatusCode.Accepted, "start the witness job");
            var jobId = ApiTestKit.Text(job, "job_id")!;
            using var cancelled = await operators.DeleteAsync($"/api/v1/refetch_jobs/{jobId}", ApiTestKit.TestAborted);
            await ApiTestKit.ExpectStatusAsync(cancelled, System.Net.HttpStatusCode.OK, $"cancel the witness job {jobId}");

            return new Witness(agent.HostId, agent.Identity.Serial, jobId, team, profile);
        }

        public async Task<string> StateAsync(HttpClient operators)
        {
            var host = await FuzzChecks.HostStateAsync(operators, HostId);
            using var job = await operators.GetAsync($"/api/v1/refetch_jobs/{JobId}", ApiTestKit.TestAborted);
            using var profiles = await operators.GetAsync($"/api/v1/configuration_profiles?team_id={Team}", ApiTestKit.TestAborted);

            return new JsonObject
            {
                ["host"] = JsonNode.Parse(host),
                ["job"] = await ApiTestKit.ExpectStatusAsync(job, System.Net.HttpStatusCode.OK, $"GET witness job {JobId}"),
                ["profiles"] = await ApiTestKit.ExpectStatusAsync(profiles, System.Net.HttpStatusCode.OK, $"GET witness profiles of {Team}"),
            }.ToJsonString();
        }
    }
}
