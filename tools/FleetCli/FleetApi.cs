using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fleet.Cli;

/// <summary>
/// The operator API over HTTP: bearer token, snake_case JSON, and every failure turned into a
/// <see cref="CliException"/> that says what went wrong in one line.
/// </summary>
public sealed class FleetApi : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,

        // Written to a terminal or a file, never into HTML: keep '+' in times and non-ASCII names readable.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly HttpClient _http;
    private readonly Uri _baseUrl;

    private FleetApi(HttpClient http, Uri baseUrl)
    {
        _http = http;
        _baseUrl = baseUrl;
    }

    public Uri BaseUrl => _baseUrl;

    /// <summary>An API client from the flags, else the environment, else the defaults.</summary>
    public static FleetApi Create(ApiSettings settings, CliContext context)
    {
        var url = settings.Url ?? context.Environment(ApiSettings.UrlVariable) ?? ApiSettings.DefaultUrl;
        if (!ApiSettings.IsHttpUrl(url))
        {
            throw new CliException($"{ApiSettings.UrlVariable} '{url}' is not an absolute http:// or https:// URL", ExitCodes.UsageOrTimeout);
        }

        var http = context.Handler is null ? new HttpClient() : new HttpClient(context.Handler, disposeHandler: false);
        http.Timeout = Timeout.InfiniteTimeSpan;
        var token = ReadToken(settings, context);
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return new FleetApi(http, new Uri(url.TrimEnd('/') + "/")) { RequestTimeout = context.RequestTimeout };
    }

    public TimeSpan RequestTimeout { get; private init; }

    public Task<T> GetAsync<T>(string path, CancellationToken cancellation = default) =>
        SendAsync<T>(HttpMethod.Get, path, body: null, cancellation);

    public Task<T> PostAsync<T>(string path, object? body, CancellationToken cancellation = default) =>
        SendAsync<T>(HttpMethod.Post, path, body, cancellation);

    public Task<T> DeleteAsync<T>(string path, CancellationToken cancellation = default) =>
        SendAsync<T>(HttpMethod.Delete, path, body: null, cancellation);

    /// <summary>
    /// GET of a Server-Sent Events stream: the response once its headers are in (an error status
    /// throws as for any request). The caller reads and disposes it, and watches for silence itself.
    /// </summary>
    public async Task<HttpResponseMessage> OpenStreamAsync(string path, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_baseUrl, path));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));

        return await ExchangeAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
    }

    public void Dispose() => _http.Dispose();

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseUrl, path));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            using var response = await ExchangeAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);

            return await response.Content.ReadFromJsonAsync<T>(Json, timeout.Token)
                ?? throw new CliException($"the API at {_baseUrl} answered {method} {path} with an empty body");
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new CliException($"the API at {_baseUrl} did not answer {method} {path} within {RequestTimeout.TotalSeconds:0} s");
        }
        catch (JsonException e)
        {
            throw new CliException($"the API at {_baseUrl} answered {method} {path} with JSON this tool cannot read: {e.Message}");
        }
    }

    private async Task<HttpResponseMessage> ExchangeAsync(
        HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellation)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, cancellation);
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach the API at {_baseUrl}: {e.Message}");
        }

        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                throw await ProblemAsync(response);
            }
        }

        return response;
    }

    private static async Task<ApiProblemException> ProblemAsync(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        string? title = null;
        string? detail = null;
        try
        {
            var text = await response.Content.ReadAsStringAsync();
            if (text.Length > 0 && JsonDocument.Parse(text).RootElement is { ValueKind: JsonValueKind.Object } problem)
            {
                title = problem.TryGetProperty("title", out var t) ? t.GetString() : null;
                detail = problem.TryGetProperty("detail", out var d) ? d.GetString() : null;
            }
        }
        catch (JsonException)
        {
            // Not problem+json (a proxy's page, say): the status line has to do.
        }

        return new ApiProblemException(status, title ?? $"{status} {response.ReasonPhrase}", detail);
    }

    private static string? ReadToken(ApiSettings settings, CliContext context)
    {
        if (settings.Token is not null)
        {
            return settings.Token;
        }

        if (settings.TokenFile is null)
        {
            return context.Environment(ApiSettings.TokenVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
        }

        try
        {
            var token = File.ReadLines(settings.TokenFile).FirstOrDefault()?.Trim();

            return string.IsNullOrEmpty(token)
                ? throw new CliException($"--token-file {settings.TokenFile} is empty", ExitCodes.UsageOrTimeout)
                : token;
        }
        catch (IOException e)
        {
            throw new CliException($"cannot read --token-file {settings.TokenFile}: {e.Message}", ExitCodes.UsageOrTimeout);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new CliException($"cannot read --token-file {settings.TokenFile}: {e.Message}", ExitCodes.UsageOrTimeout);
        }
    }
}
