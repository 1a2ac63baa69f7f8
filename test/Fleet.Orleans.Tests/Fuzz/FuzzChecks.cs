using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using Fleet.Tests.Api;

namespace Fleet.Tests.Fuzz;

/// <summary>An answer to one fuzzed request: its status, media type and body text.</summary>
public sealed record FuzzAnswer(HttpStatusCode Status, string? MediaType, string Body)
{
    public int Code => (int)Status;

    public bool Rejected => Code >= 400;
}

/// <summary>Sends fuzzed requests, counts them, and checks the rules every answer must keep.</summary>
internal static class FuzzChecks
{
    /// <summary>
    /// Sends the request and reads the whole answer. Fails on a 5xx or on an exception reaching the client
    /// (which is what an exception escaping the Api looks like in memory). Event streams that open are closed
    /// after their headers, so a valid id cannot hold the test.
    /// </summary>
    public static async Task<FuzzAnswer> SendAsync(HttpClient http, HttpRequestMessage request, string endpoint, string input)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ApiTestKit.TestAborted);
        }
        catch (HttpRequestException exception)
        {
            throw new InvalidOperationException($"{endpoint}: an exception escaped the Api for input {input}: {exception}", exception);
        }

        using (response)
        {
            FuzzTally.Count(endpoint, response.StatusCode);
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            var body = mediaType == "text/event-stream" ? string.Empty : await response.Content.ReadAsStringAsync(ApiTestKit.TestAborted);
            Assert.True((int)response.StatusCode < 500, $"{endpoint}: {(int)response.StatusCode} for input {input}; body '{Shorten(body)}'");

            return new FuzzAnswer(response.StatusCode, mediaType, body);
        }
    }

    /// <summary>Operator errors are problem+json whose <c>status</c> is the HTTP status, with a title.</summary>
    public static void ExpectOperatorAnswer(FuzzAnswer answer, string context)
    {
        if (!answer.Rejected)
        {
            return;
        }

        Assert.True(answer.MediaType == ApiTestKit.ProblemJson, $"{context}: {answer.Code} as '{answer.MediaType}', not problem+json: '{Shorten(answer.Body)}'");
        var problem = ParseObject(answer.Body, context);
        Assert.True(ApiTestKit.Int(problem, "status") == answer.Code, $"{context}: problem status {ApiTestKit.Show(problem["status"])} on a {answer.Code}");
        Assert.False(string.IsNullOrWhiteSpace(ApiTestKit.Text(problem, "title")), $"{context}: problem without a title: '{Shorten(answer.Body)}'");
    }

    /// <summary>
    /// osquery errors: 400 (unreadable) or 413 (over the endpoint's body limit) with an error sentence and
    /// <c>node_invalid: false</c>, or 401 with <c>node_invalid: true</c>; successes are JSON.
    /// </summary>
    public static void ExpectAgentAnswer(FuzzAnswer answer, string context)
    {
        var body = ParseObject(answer.Body, context);
        if (!answer.Rejected)
        {
            return;
        }

        Assert.True(answer.Code is 400 or 401 or 413, $"{context}: agent error {answer.Code}, expected 400, 401 or 413: '{Shorten(answer.Body)}'");
        Assert.False(string.IsNullOrWhiteSpace(ApiTestKit.Text(body, "error")), $"{context}: agent error without a sentence: '{Shorten(answer.Body)}'");
        Assert.True(
            body["node_invalid"] is JsonValue flag && flag.TryGetValue<bool>(out var invalid) && invalid == (answer.Code == 401),
            $"{context}: {answer.Code} with node_invalid {ApiTestKit.Show(body["node_invalid"])}");
    }

    /// <summary>A check-in the server cannot read is a 4xx problem; an unused one is 200.</summary>
    public static void ExpectCheckInAnswer(FuzzAnswer answer, string context)
    {
        Assert.True(answer.Code is 200 or 400 or 401 or 403 or 410 or 413, $"{context}: check-in answered {answer.Code}: '{Shorten(answer.Body)}'");
        ExpectOperatorAnswer(answer, context);
    }

    /// <summary>A command report the server cannot use is 200 (a device resends anything else); only identity and size refuse.</summary>
    public static void ExpectReportAnswer(FuzzAnswer answer, string context)
    {
        Assert.True(answer.Code is 200 or 401 or 403 or 413, $"{context}: report answered {answer.Code}: '{Shorten(answer.Body)}'");
        ExpectOperatorAnswer(answer, context);
    }

    /// <summary>
    /// The part of a host that rejected input must leave alone: revision (every stored change), refetch epoch,
    /// status and attempt, transitions, team and OS settings, and, unless the device legitimately talked, last seen.
    /// </summary>
    public static async Task<string> HostStateAsync(HttpClient operators, string hostId, bool withLastSeen = true)
    {
        var host = await operators.GetHostAsync(hostId);
        var refetch = host["refetch"];
        var state = new JsonObject
        {
            ["revision"] = host["revision"]?.DeepClone(),
            ["epoch"] = refetch?["epoch"]?.DeepClone(),
            ["status"] = refetch?["status"]?.DeepClone(),
            ["attempt"] = refetch?["attempt"]?.DeepClone(),
            ["transitions"] = host["transitions"]?.AsArray().Count,
            ["team_id"] = host["team_id"]?.DeepClone(),
            ["os_settings"] = host["os_settings"]?.DeepClone(),
            ["detail_updated_at"] = host["detail_updated_at"]?.DeepClone(),
            ["last_seen_at"] = withLastSeen ? host["last_seen_at"]?.DeepClone() : null,
        };

        return state.ToJsonString();
    }

    /// <summary>Runs <paramref name="check"/> on every generated input, one at a time, and writes the tally after.</summary>
    public static async Task SampleAsync<T>(Gen<T> gen, Func<T, Task> check)
    {
        try
        {
            await gen.SampleAsync(check, iter: FuzzSettings.Iterations, threads: 1, seed: FuzzSettings.Seed, print: i => Shorten($"{i}"));
        }
        finally
        {
            var path = FuzzTally.Write();
            TestContext.Current.SendDiagnosticMessage($"fuzz summary: {path}");
        }
    }

    public static HttpRequestMessage Request(HttpMethod method, string url, byte[]? body = null, string? contentType = "application/json")
    {
        var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            if (contentType is not null)
            {
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            }
        }

        return request;
    }

    public static string Shorten(string text) => text.Length <= 400 ? text : text[..400] + $"… ({text.Length} characters)";

    private static JsonObject ParseObject(string text, string context)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException exception)
        {
            Assert.Fail($"{context}: body is not a JSON object ({exception.Message}): '{Shorten(text)}'");
            throw;
        }
    }
}
