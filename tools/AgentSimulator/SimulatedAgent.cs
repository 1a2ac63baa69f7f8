using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fleet.AgentSimulator.Mdm;

namespace Fleet.AgentSimulator;

/// <summary>
/// One simulated osquery agent speaking the osquery TLS remote API (JSON over HTTP POST) to the
/// Fleet.Orleans Api, replaying the real bodies from <see cref="AgentPayloads"/>. Like osquery,
/// it enrolls again and retries once when the server answers <c>node_invalid</c>.
/// Calls on one agent must not overlap; the counters may be read from any thread.
/// </summary>
public sealed class SimulatedAgent
{
    /// <summary>The detail query that an <see cref="FaultKind.Error"/> agent reports as failed.</summary>
    public const string FailingQuery = "fleet_detail_query_os_version";

    /// <summary>The osquery error that an <see cref="FaultKind.Error"/> agent reports.</summary>
    public const string FailingQueryMessage = "no such table: os_version";

    private readonly HttpClient _http;
    private readonly Uri _api;
    private readonly string _enrollSecret;
    private readonly JsonObject _results;
    private readonly RequestCounters? _counters;
    private string? _nodeKey;
    private int _reads;
    private int _writes;
    private int _queriesAnswered;
    private int _reEnrolls;
    private int _reconnects;
    private int _enrolls;

    /// <param name="http">The client to send with; it may be shared by many agents.</param>
    /// <param name="api">The Api's base address, e.g. <c>http://127.0.0.1:5080</c>.</param>
    /// <param name="enrollSecret">The secret sent on enroll.</param>
    /// <param name="profile">Which payloads to replay.</param>
    /// <param name="identity">The host's UUID, serial and hostname.</param>
    /// <param name="fault">How the agent misbehaves; <see cref="FaultMode.None"/> for a healthy one.</param>
    /// <param name="mac">For a Mac: its MDM side, whose installed profiles the agent reports.</param>
    /// <param name="counters">Where to count each request and its outcome; it may be shared by many agents.</param>
    public SimulatedAgent(
        HttpClient http,
        Uri api,
        string enrollSecret,
        HostProfile profile,
        HostIdentity identity,
        FaultMode fault,
        MacDevice? mac = null,
        RequestCounters? counters = null)
    {
        _http = http;
        _api = api.AbsoluteUri.EndsWith('/') ? api : new Uri(api.AbsoluteUri + "/");
        _enrollSecret = enrollSecret;
        _results = AgentPayloads.QueryResults(profile, identity);
        Profile = profile;
        Identity = identity;
        Fault = fault;
        Mac = mac;
        _counters = counters;
    }

    public HostProfile Profile { get; }

    public HostIdentity Identity { get; }

    public FaultMode Fault { get; }

    /// <summary>The host's MDM side; null for hosts that are not Macs.</summary>
    public MacDevice? Mac { get; }

    /// <summary>Whether the agent holds a node key.</summary>
    public bool IsEnrolled => Volatile.Read(ref _nodeKey) is not null;

    public int Reads => Volatile.Read(ref _reads);

    public int Writes => Volatile.Read(ref _writes);

    /// <summary>Query results sent on writes, one per query name, failed ones included.</summary>
    public int QueriesAnswered => Volatile.Read(ref _queriesAnswered);

    /// <summary>How often the server answered <c>node_invalid</c> and the agent enrolled again.</summary>
    public int ReEnrolls => Volatile.Read(ref _reEnrolls);

    /// <summary>How often the agent enrolled and got a node key.</summary>
    public int Enrolls => Volatile.Read(ref _enrolls);

    /// <summary>How often the agent dropped its node key in a reconnect storm.</summary>
    public int Reconnects => Volatile.Read(ref _reconnects);

    /// <summary>
    /// Drops the node key, as an agent that restarts with a wiped database does; the next call enrolls again.
    /// </summary>
    public void Disconnect()
    {
        Interlocked.Increment(ref _reconnects);
        Volatile.Write(ref _nodeKey, null);
    }

    /// <summary>Enrolls and keeps the node key.</summary>
    /// <exception cref="HttpRequestException">The Api refused or could not be reached.</exception>
    public async Task EnrollAsync(CancellationToken cancellationToken)
    {
        var body = AgentPayloads.EnrollBody(Profile, Identity, _enrollSecret);
        var (status, response) = await PostAsync("enroll", body, cancellationToken);
        if (status != HttpStatusCode.OK)
        {
            var reason = IsNodeInvalid(status, response) ? " (node_invalid: is the enroll secret right?)" : "";
            throw new HttpRequestException($"enroll: answered {(int)status} {status}{reason}", null, status);
        }

        var nodeKey = Property(response, "node_key") is JsonValue value && value.TryGetValue(out string? key)
            ? key
            : null;
        if (string.IsNullOrEmpty(nodeKey))
        {
            throw new InvalidDataException("enroll: answered 200 without a node_key");
        }

        Volatile.Write(ref _nodeKey, nodeKey);
        Interlocked.Increment(ref _enrolls);
    }

    /// <summary>Fetches the osquery config, as osquery does every config interval.</summary>
    public async Task ConfigAsync(CancellationToken cancellationToken)
    {
        if (Fault.Kind == FaultKind.Silent)
        {
            return;
        }

        await PostWithNodeKeyAsync("config", NodeKeyBody, cancellationToken);
    }

    /// <summary>
    /// Reads the distributed queries owed to this host and, if any came back, writes their
    /// results (subject to the fault mode). Enrolls first when the agent has no node key.
    /// </summary>
    /// <returns>The number of queries answered on the write; 0 when nothing was written.</returns>
    public async Task<int> CheckInAsync(CancellationToken cancellationToken)
    {
        if (Fault.Kind == FaultKind.Silent)
        {
            return 0;
        }

        var response = await PostWithNodeKeyAsync("distributed/read", NodeKeyBody, cancellationToken);
        Interlocked.Increment(ref _reads);
        var queries = Property(response, "queries") as JsonObject;
        var names = queries?.Select(query => query.Key).ToList() ?? [];
        if (names.Count == 0 || Fault.Kind == FaultKind.NoWrite)
        {
            return 0;
        }

        if (Fault.Kind == FaultKind.Late)
        {
            await Task.Delay(Fault.WriteDelay, cancellationToken);
        }

        await PostWithNodeKeyAsync("distributed/write", nodeKey => WriteBody(nodeKey, names), cancellationToken);
        Interlocked.Increment(ref _writes);
        Interlocked.Add(ref _queriesAnswered, names.Count);

        return names.Count;
    }

    private static JsonObject NodeKeyBody(string nodeKey) => new() { ["node_key"] = nodeKey };

    private JsonObject WriteBody(string nodeKey, List<string> names)
    {
        var queries = new JsonObject();
        var statuses = new JsonObject();
        var messages = new JsonObject();
        foreach (var name in names)
        {
            if (Fault.Kind == FaultKind.Error && name == FailingQuery)
            {
                queries[name] = new JsonArray();
                statuses[name] = 1;
                messages[name] = FailingQueryMessage;
                continue;
            }

            queries[name] = (name, Mac) switch
            {
                (MacProfiles.OsqueryQuery, { } mac) => mac.OsqueryProfileRows(),
                _ => _results[name] is JsonArray rows ? rows.DeepClone() : new JsonArray(),
            };
            statuses[name] = 0;
        }

        return new JsonObject
        {
            ["node_key"] = nodeKey,
            ["queries"] = queries,
            ["statuses"] = statuses,
            ["messages"] = messages,
        };
    }

    private async Task<JsonNode?> PostWithNodeKeyAsync(
        string endpoint, Func<string, JsonObject> body, CancellationToken cancellationToken)
    {
        if (!IsEnrolled)
        {
            await EnrollAsync(cancellationToken);
        }

        var (status, response) = await PostAsync(endpoint, body(_nodeKey!), cancellationToken);
        if (IsNodeInvalid(status, response))
        {
            Interlocked.Increment(ref _reEnrolls);
            Volatile.Write(ref _nodeKey, null);
            await EnrollAsync(cancellationToken);
            (status, response) = await PostAsync(endpoint, body(_nodeKey!), cancellationToken);
        }

        if (status != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"{endpoint}: answered {(int)status} {status}", null, status);
        }

        return response;
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> PostAsync(
        string endpoint, JsonObject body, CancellationToken cancellationToken)
    {
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        try
        {
            var uri = new Uri(_api, "api/osquery/" + endpoint);
            using var response = await _http.PostAsync(uri, content, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            _counters?.Answered(response.StatusCode);

            return (response.StatusCode, TryParse(text));
        }
        catch (HttpRequestException exception)
        {
            _counters?.Unanswered(RequestCounters.Connection);
            var message = $"{endpoint}: {Describe(exception)}";
            throw new HttpRequestException(message, exception, exception.StatusCode);
        }
        catch (TaskCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            _counters?.Unanswered(RequestCounters.Timeout);
            var message = $"{endpoint}: no answer within {_http.Timeout.TotalSeconds:0} s";
            throw new TimeoutException(message, exception);
        }
    }

    // osquery treats node_invalid in any answer as "enroll again"; the Api sends it with a 401.
    private static bool IsNodeInvalid(HttpStatusCode status, JsonNode? body) =>
        status == HttpStatusCode.Unauthorized
        || (Property(body, "node_invalid") is JsonValue value && value.TryGetValue(out bool invalid) && invalid);

    private static JsonNode? Property(JsonNode? body, string name) => (body as JsonObject)?[name];

    // HttpClient's own message ("An error occurred while sending the request.") hides the cause.
    private static string Describe(Exception exception)
    {
        var description = exception.Message;
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (!description.Contains(inner.Message, StringComparison.Ordinal))
            {
                description += " " + inner.Message;
            }
        }

        return description;
    }

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return text.Length == 0 ? null : JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
