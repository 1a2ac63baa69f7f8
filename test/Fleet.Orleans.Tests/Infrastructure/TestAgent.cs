using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Fleet.Tests.Infrastructure;

/// <summary>An osquery agent driven step by step by a test, replaying a real payload through the Api.</summary>
public sealed class TestAgent(HttpClient http, AgentProfile profile, TestHostIdentity identity)
{
    public TestHostIdentity Identity { get; } = identity;

    public string HostId => Identity.Uuid;

    public string? NodeKey { get; private set; }

    public static async Task<TestAgent> EnrollAsync(HttpClient http, AgentProfile profile, TestHostIdentity? identity = null)
    {
        var agent = new TestAgent(http, profile, identity ?? TestHostIdentity.New());
        await agent.EnrollAsync();

        return agent;
    }

    public async Task EnrollAsync()
    {
        using var response = await PostAsync("/api/osquery/enroll", Payloads.Osquery(profile.EnrollFile, Identity));
        Assert.True(response.IsSuccessStatusCode, $"enroll of {HostId} answered {(int)response.StatusCode}");
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        NodeKey = body!["node_key"]!.GetValue<string>();
    }

    /// <summary>One <c>distributed/read</c>; returns the names of the queries handed out.</summary>
    public async Task<IReadOnlyList<string>> ReadAsync()
    {
        using var response = await PostAsync("/api/osquery/distributed/read", NodeKeyBody());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();

        return [.. body!["queries"]!.AsObject().Select(q => q.Key)];
    }

    /// <summary>
    /// Answers <paramref name="queryNames"/> with the payload's rows, or those in <paramref name="replacedRows"/> for
    /// the queries it names, optionally failing one query.
    /// </summary>
    public async Task<HttpStatusCode> WriteAsync(
        IEnumerable<string> queryNames, string? failQuery = null, string? failMessage = null, JsonObject? replacedRows = null)
    {
        var rows = Payloads.WriteQueries(profile.WriteFile, Identity);
        var queries = new JsonObject();
        var statuses = new JsonObject();
        var messages = new JsonObject();
        foreach (var name in queryNames)
        {
            queries[name] = (replacedRows?[name] ?? rows[name])?.DeepClone() ?? new JsonArray();
            statuses[name] = name == failQuery ? 1 : 0;
            if (name == failQuery)
            {
                messages[name] = failMessage ?? "query failed";
            }
        }

        var body = new JsonObject { ["node_key"] = NodeKey, ["queries"] = queries, ["statuses"] = statuses, ["messages"] = messages };
        using var response = await PostAsync("/api/osquery/distributed/write", body.ToJsonString());

        return response.StatusCode;
    }

    /// <summary>A read and, when queries came back, the write that answers them.</summary>
    public async Task<int> CheckInAsync()
    {
        var queries = await ReadAsync();
        if (queries.Count > 0)
        {
            Assert.Equal(HttpStatusCode.OK, await WriteAsync(queries));
        }

        return queries.Count;
    }

    public string NodeKeyBody() => new JsonObject { ["node_key"] = NodeKey }.ToJsonString();

    public Task<HttpResponseMessage> PostAsync(string path, string json) =>
        http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
}
