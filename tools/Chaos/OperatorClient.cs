using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Fleet.Chaos;

/// <summary>
/// The operator API as a maintainer uses it, every request's outcome recorded in <see cref="Log"/>. Answers are
/// read as JSON nodes: the suite checks a few fields and must not depend on the Api's own types.
/// </summary>
internal sealed class OperatorClient : IDisposable
{
    private readonly HttpClient _http;

    public OperatorClient(Uri api, string token)
    {
        _http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(15) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public RequestLog Log { get; } = new();

    public Task<(HttpStatusCode? Status, JsonNode? Body)> RefetchAsync(string hostId) =>
        SendAsync(HttpMethod.Post, $"/api/v1/hosts/{hostId}/refetch", null);

    public Task<(HttpStatusCode? Status, JsonNode? Body)> GetHostAsync(string hostId) =>
        SendAsync(HttpMethod.Get, $"/api/v1/hosts/{hostId}", null);

    public Task<(HttpStatusCode? Status, JsonNode? Body)> StartJobAsync(IEnumerable<string> hostIds, int rate) =>
        SendAsync(HttpMethod.Post, "/api/v1/refetch_jobs", new JsonObject
        {
            ["host_ids"] = new JsonArray([.. hostIds.Select(id => (JsonNode)id)]),
            ["rate"] = rate,
        });

    public Task<(HttpStatusCode? Status, JsonNode? Body)> GetJobAsync(string jobId) =>
        SendAsync(HttpMethod.Get, $"/api/v1/refetch_jobs/{jobId}", null);

    public Task<(HttpStatusCode? Status, JsonNode? Body)> PutProfileAsync(string team, string identifier, string checksum) =>
        SendAsync(HttpMethod.Put, $"/api/v1/configuration_profiles/{identifier}?team_id={team}", new JsonObject
        {
            ["display_name"] = $"Chaos {identifier}",
            ["checksum"] = checksum,
        });

    public Task<(HttpStatusCode? Status, JsonNode? Body)> GetProfilesAsync(string team) =>
        SendAsync(HttpMethod.Get, $"/api/v1/configuration_profiles?team_id={team}", null);

    public Task<(HttpStatusCode? Status, JsonNode? Body)> SummaryAsync() =>
        SendAsync(HttpMethod.Get, "/api/v1/hosts/summary", null);

    public void Dispose() => _http.Dispose();

    private async Task<(HttpStatusCode? Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, JsonObject? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        try
        {
            using var response = await _http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var ok = (int)response.StatusCode is >= 200 and < 300;
            Log.Add(DateTimeOffset.UtcNow, ok ? null : ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));

            return (response.StatusCode, TryParse(text));
        }
        catch (HttpRequestException)
        {
            Log.Add(DateTimeOffset.UtcNow, "connection");

            return (null, null);
        }
        catch (TaskCanceledException)
        {
            Log.Add(DateTimeOffset.UtcNow, "timeout");

            return (null, null);
        }
    }

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return text.Length == 0 ? null : JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
