using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Api;

/// <summary>What the Api tests share: clients, JSON bodies, status and problem+json checks, and polling.</summary>
internal static class ApiTestKit
{
    public const string ProblemJson = "application/problem+json";

    /// <summary>How long the host index may lag behind a host grain before a test gives up.</summary>
    public static readonly TimeSpan IndexLag = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan s_pollInterval = TimeSpan.FromMilliseconds(50);

    // WebApplicationFactory builds its server on first use and is not thread-safe; parallel test
    // classes asking for their first client at once would each build one.
    private static readonly Lock s_factoryLock = new();

    public static CancellationToken TestAborted => TestContext.Current.CancellationToken;

    public static HttpClient AgentClient(this ClusterFixture fixture)
    {
        lock (s_factoryLock)
        {
            return fixture.Api.CreateClient();
        }
    }

    public static HttpClient OperatorClient(this ClusterFixture fixture, string token = ApiFactory.MaintainerToken)
    {
        lock (s_factoryLock)
        {
            return fixture.Api.CreateOperatorClient(token);
        }
    }

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient http, string path, string json) =>
        http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), TestAborted);

    public static Task<HttpResponseMessage> RefetchAsync(this HttpClient http, string hostId) =>
        http.PostAsync($"/api/v1/hosts/{hostId}/refetch", content: null, TestAborted);

    /// <summary>GET of one host that must answer 200.</summary>
    public static async Task<JsonObject> GetHostAsync(this HttpClient http, string hostId)
    {
        using var response = await http.GetAsync($"/api/v1/hosts/{hostId}", TestAborted);

        return await ExpectStatusAsync(response, HttpStatusCode.OK, $"GET host {hostId}");
    }

    /// <summary>Every page of <c>GET /api/v1/hosts?{query}</c>, following <c>next_cursor</c> to the end.</summary>
    public static async Task<List<JsonObject>> ListPagesAsync(this HttpClient http, string query)
    {
        var pages = new List<JsonObject>();
        string? cursor = null;
        do
        {
            var url = $"/api/v1/hosts?{query}" + (cursor is null ? string.Empty : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var response = await http.GetAsync(url, TestAborted);
            var page = await ExpectStatusAsync(response, HttpStatusCode.OK, $"GET {url}");
            pages.Add(page);
            cursor = Text(page, "next_cursor");
            Assert.True(pages.Count <= 1000, $"GET /api/v1/hosts?{query}: still paging after 1000 pages");
        }
        while (cursor is not null);

        return pages;
    }

    /// <summary>Every row of <c>GET /api/v1/hosts?{query}</c>, across all pages.</summary>
    public static async Task<List<JsonNode>> ListRowsAsync(this HttpClient http, string query) =>
        [.. (await http.ListPagesAsync(query)).SelectMany(p => p["hosts"]!.AsArray()).Select(h => h!)];

    /// <summary>Checks the status code and returns the JSON object body (empty when there is none).</summary>
    public static async Task<JsonObject> ExpectStatusAsync(
        HttpResponseMessage response, HttpStatusCode expected, string context)
    {
        var text = await response.Content.ReadAsStringAsync(TestAborted);
        Assert.True(
            response.StatusCode == expected,
            $"{context}: expected {(int)expected}, got {(int)response.StatusCode} with body '{text}'");

        if (text.Length == 0)
        {
            return new JsonObject();
        }

        var body = JsonNode.Parse(text) as JsonObject;
        Assert.True(body is not null, $"{context}: expected a JSON object body, got '{text}'");

        return body;
    }

    /// <summary>Checks an operator error: its status, the problem+json media type, and its status, title and detail.</summary>
    public static async Task<JsonObject> ExpectProblemAsync(
        HttpResponseMessage response, HttpStatusCode status, string title, string context)
    {
        var body = await ExpectStatusAsync(response, status, context);
        var mediaType = response.Content.Headers.ContentType?.MediaType;

        Assert.True(mediaType == ProblemJson, $"{context}: expected Content-Type {ProblemJson}, got '{mediaType}'");
        Assert.True(
            Int(body, "status") == (int)status,
            $"{context}: expected problem status {(int)status}, got {Show(body["status"])}");
        Assert.True(Text(body, "title") == title, $"{context}: expected title '{title}', got '{Text(body, "title")}'");
        Assert.False(string.IsNullOrWhiteSpace(Text(body, "detail")), $"{context}: problem has no detail: {Show(body)}");

        return body;
    }

    /// <summary>Checks a 400 that names the offending parameter in its detail and its errors.</summary>
    public static async Task ExpectInvalidParameterAsync(HttpResponseMessage response, string parameter, string context)
    {
        var body = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "Invalid request", context);
        var detail = Text(body, "detail")!;

        Assert.True(
            detail.StartsWith(parameter + " ", StringComparison.Ordinal),
            $"{context}: expected the detail to name '{parameter}', got '{detail}'");
        Assert.True(
            body["errors"] is JsonObject errors && errors.ContainsKey(parameter),
            $"{context}: expected errors.{parameter}, got {Show(body["errors"])}");
    }

    /// <summary>Checks a 401 to an operator: problem+json and a bearer challenge.</summary>
    public static async Task ExpectUnauthorizedAsync(HttpResponseMessage response, string context)
    {
        await ExpectProblemAsync(response, HttpStatusCode.Unauthorized, "Unauthorized", context);
        var schemes = response.Headers.WwwAuthenticate.Select(h => h.Scheme).ToList();

        Assert.True(
            schemes.Contains("Bearer"),
            $"{context}: expected WWW-Authenticate Bearer, got '{string.Join(", ", schemes)}'");
    }

    /// <summary>Checks the 400 osquery gets for a body it must fix, which must not make it re-enroll.</summary>
    public static Task ExpectBadAgentRequestAsync(HttpResponseMessage response, string context) =>
        ExpectAgentErrorAsync(response, HttpStatusCode.BadRequest, nodeInvalid: false, context);

    /// <summary>Checks the 401 with <c>node_invalid: true</c> that makes osquery enroll again.</summary>
    public static Task ExpectNodeInvalidAsync(HttpResponseMessage response, string context) =>
        ExpectAgentErrorAsync(response, HttpStatusCode.Unauthorized, nodeInvalid: true, context);

    /// <summary>
    /// Reads until <paramref name="done"/> holds, for state that settles on its own (the index, grain
    /// timers on the silo's real clock). Fails with the last value seen.
    /// </summary>
    public static async Task<T> EventuallyAsync<T>(
        Func<Task<T>> read,
        Func<T, bool> done,
        string what,
        TimeSpan? timeout = null,
        Func<T, string>? describe = null)
    {
        var limit = timeout ?? IndexLag;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            if (clock.Elapsed > limit)
            {
                var last = describe is null ? Describe(value) : describe(value);
                Assert.Fail($"{what}: not seen within {limit.TotalSeconds:F1} s; last saw {last}");
            }

            await Task.Delay(s_pollInterval, TestAborted);
        }
    }

    /// <summary>Polls GET of a host until its refetch reaches <paramref name="status"/>.</summary>
    public static Task<JsonObject> WaitForRefetchStatusAsync(
        this HttpClient http, string hostId, string status, TimeSpan timeout) =>
        EventuallyAsync(
            () => http.GetHostAsync(hostId),
            host => Text(host["refetch"], "status") == status,
            $"host {hostId} reaching refetch status '{status}'",
            timeout);

    /// <summary>Checks that each named string field of <paramref name="node"/> holds its expected value.</summary>
    public static void ExpectTexts(JsonNode? node, IReadOnlyDictionary<string, string?> expected, string context)
    {
        var wrong = expected
            .Where(e => Text(node, e.Key) != e.Value)
            .Select(e => $"{e.Key} '{Text(node, e.Key)}' (expected '{e.Value}')")
            .ToList();

        Assert.True(wrong.Count == 0, $"{context}: {string.Join("; ", wrong)}");
    }

    /// <summary>Checks that <paramref name="node"/> has every field, null or not.</summary>
    public static void ExpectFields(JsonNode? node, IEnumerable<string> fields, string context)
    {
        var missing = fields.Where(f => node is not JsonObject o || !o.ContainsKey(f)).ToList();

        Assert.True(missing.Count == 0, $"{context}: lacks {string.Join(", ", missing)} in {Show(node)}");
    }

    public static string? Text(JsonNode? node, string field) =>
        node is JsonObject o && o[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public static int? Int(JsonNode? node, string field) =>
        node is JsonObject o && o[field] is JsonValue v && v.TryGetValue<int>(out var i) ? i : null;

    /// <summary>A node as JSON for a failure message; "nothing" for a missing or null one.</summary>
    public static string Show(JsonNode? node) => node?.ToJsonString() ?? "nothing";

    private static async Task ExpectAgentErrorAsync(
        HttpResponseMessage response, HttpStatusCode status, bool nodeInvalid, string context)
    {
        var body = await ExpectStatusAsync(response, status, context);

        Assert.False(string.IsNullOrWhiteSpace(Text(body, "error")), $"{context}: expected an error sentence, got {Show(body)}");
        Assert.True(
            body["node_invalid"]?.GetValue<bool>() == nodeInvalid,
            $"{context}: expected node_invalid {nodeInvalid}, got {Show(body)}");
    }

    private static string Describe<T>(T value) => value is JsonNode node ? node.ToJsonString() : $"{value}";
}
