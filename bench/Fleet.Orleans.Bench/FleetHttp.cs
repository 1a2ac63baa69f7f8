using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fleet.Bench;

/// <summary>Cumulative storage requests the silo's grains made, from <c>GET /debug/storage-writes</c>.</summary>
internal sealed record StorageCounts(long GrainState, long Reminder, long Index)
{
    public long StateAndReminder => GrainState + Reminder;

    /// <summary>Every write the silo made: grain state, reminders and index batches.</summary>
    public long All => GrainState + Reminder + Index;

    public static StorageCounts operator -(StorageCounts a, StorageCounts b) =>
        new(a.GrainState - b.GrainState, a.Reminder - b.Reminder, a.Index - b.Index);
}

/// <summary>
/// Deactivating hosts' last-seen writes since the silo started, from <c>GET /debug/last-seen-flushes</c>: stored, failed,
/// or skipped because no write turn came within half of Orleans' deactivation timeout.
/// </summary>
internal sealed record FlushCounts(long Stored, long Failed, long Skipped)
{
    public long All => Stored + Failed + Skipped;

    public static FlushCounts operator -(FlushCounts a, FlushCounts b) => new(a.Stored - b.Stored, a.Failed - b.Failed, a.Skipped - b.Skipped);
}

/// <summary>The silo's memory, from <c>GET /debug/memory?collect=true</c> (after a full, compacting GC).</summary>
internal sealed record MemorySnapshot(long WorkingSet, long ManagedHeap, long GcHeapSize, IReadOnlyDictionary<string, long> Activations, long GcCommitted = 0)
{
    /// <summary>Memory the GC keeps committed beyond its heap: free space it holds for later allocations.</summary>
    public long GcFree => GcCommitted - GcHeapSize;

    /// <summary>
    /// Working set minus the GC's committed memory: roughly code, the runtime's and libraries' native memory and stacks,
    /// less any committed GC memory that was never touched (not resident, so not in the working set).
    /// </summary>
    public long OutsideGc => WorkingSet - GcCommitted;

    /// <summary>Activations of the host grain (Orleans grain type <c>host</c>).</summary>
    public long HostActivations => Activations.GetValueOrDefault("host");
}

/// <summary>A refetch as the operator API accepted it.</summary>
internal sealed record RefetchAccepted(string HostId, int Epoch, DateTimeOffset RequestedAt, DateTimeOffset Deadline);

/// <summary>
/// The HTTP side of the load generator: one <see cref="SocketsHttpHandler"/> pool to the Api (agents and
/// operators) and one to the silo's diagnostics. Bodies are bytes made beforehand.
/// </summary>
internal sealed class FleetHttp : IDisposable
{
    private static readonly MediaTypeHeaderValue s_json = new("application/json");

    private readonly SocketsHttpHandler _handler;
    private readonly HttpClient _agents;
    private readonly HttpClient _operators;
    private readonly HttpClient _silo;

    public FleetHttp(Uri api, Uri silo, string token, int maxConnections)
    {
        _handler = new SocketsHttpHandler
        {
            UseProxy = false,
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
        };
        _agents = new HttpClient(_handler, disposeHandler: false) { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        _operators = new HttpClient(_handler, disposeHandler: false) { BaseAddress = api, Timeout = TimeSpan.FromSeconds(60) };
        _operators.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _silo = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = silo, Timeout = TimeSpan.FromMinutes(2) };
    }

    /// <summary>Posts an agent body; returns the status and, when asked, the answer.</summary>
    public async Task<(int Status, byte[] Body)> PostAgentAsync(string path, byte[] body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = s_json;
        using var response = await _agents.PostAsync(path, content, cancellationToken);
        var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken);

        return ((int)response.StatusCode, answer);
    }

    /// <summary>A no-op check-in: 200 with no queries.</summary>
    public async Task<bool> NoOpReadAsync(string path, SimHost host, CancellationToken cancellationToken) =>
        await NoOpReadProblemAsync(path, host, cancellationToken) is null;

    /// <summary>
    /// A no-op check-in that says what was wrong with its answer: null for 200 with no queries, otherwise "HTTP", the status
    /// (and, for a 200, that it carried queries), ": " and the start of its body (a problem's title, osquery's error).
    /// </summary>
    public async Task<string?> NoOpReadProblemAsync(string path, SimHost host, CancellationToken cancellationToken)
    {
        var (status, body) = await PostAgentAsync(path, host.ReadBody, cancellationToken);
        if (status == 200 && body.Length <= 16)
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 160)).ReplaceLineEndings(" ");

        return status == 200 ? $"HTTP 200 with queries: {text}" : $"HTTP {status}: {text}";
    }

    public async Task<bool> EnrollAsync(SimHost host, byte[] body, CancellationToken cancellationToken)
    {
        var (status, answer) = await PostAgentAsync("api/osquery/enroll", body, cancellationToken);
        if (status != 200)
        {
            return false;
        }

        using var document = JsonDocument.Parse(answer);
        host.Enrolled(document.RootElement.GetProperty("node_key").GetString()!);

        return true;
    }

    public async Task<RefetchAccepted?> RefetchAsync(string hostId, CancellationToken cancellationToken)
    {
        using var response = await _operators.PostAsync($"api/v1/hosts/{hostId}/refetch", null, cancellationToken);
        if ((int)response.StatusCode != 202)
        {
            return null;
        }

        using var document = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(cancellationToken));
        var root = document.RootElement;

        return new RefetchAccepted(
            hostId,
            root.GetProperty("epoch").GetInt32(),
            root.GetProperty("requested_at").GetDateTimeOffset(),
            root.GetProperty("deadline").GetDateTimeOffset());
    }

    /// <summary>The host's own refetch (status word, epoch, completed_at) from <c>GET /api/v1/hosts/{id}</c>, not the index.</summary>
    public async Task<(string? Status, int? Epoch, DateTimeOffset? CompletedAt)> GetRefetchAsync(string hostId, CancellationToken cancellationToken)
    {
        using var response = await _operators.GetAsync($"api/v1/hosts/{hostId}", cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return (null, null, null);
        }

        using var document = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(cancellationToken));
        if (!document.RootElement.TryGetProperty("refetch", out var refetch) || refetch.ValueKind != JsonValueKind.Object)
        {
            return (null, null, null);
        }

        DateTimeOffset? completed = refetch.TryGetProperty("completed_at", out var at) && at.ValueKind == JsonValueKind.String
            ? at.GetDateTimeOffset()
            : null;

        return (refetch.GetProperty("status").GetString(), refetch.GetProperty("epoch").GetInt32(), completed);
    }

    public async Task<bool> GetHostAsync(string hostId, CancellationToken cancellationToken)
    {
        using var response = await _operators.GetAsync($"api/v1/hosts/{hostId}", cancellationToken);

        return response.IsSuccessStatusCode;
    }

    /// <summary>Counts by status word from <c>GET /api/v1/hosts/summary</c>.</summary>
    public async Task<IReadOnlyDictionary<string, int>> SummaryAsync(CancellationToken cancellationToken)
    {
        using var document = JsonDocument.Parse(await _operators.GetByteArrayAsync("api/v1/hosts/summary", cancellationToken));

        return document.RootElement.GetProperty("by_status").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.GetInt32(), StringComparer.Ordinal);
    }

    /// <summary>Every host with the status, paging 500 at a time: host id and when its status last changed.</summary>
    public async Task<Dictionary<string, DateTimeOffset>> ListStatusChangesAsync(string status, CancellationToken cancellationToken)
    {
        var changes = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        string? cursor = null;
        for (var page = 0; page < 10_000; page++)
        {
            var url = $"api/v1/hosts?status={status}&limit=500" + (cursor is null ? string.Empty : "&cursor=" + cursor);
            using var document = JsonDocument.Parse(await GetWithRetryAsync(url, cancellationToken));
            foreach (var host in document.RootElement.GetProperty("hosts").EnumerateArray())
            {
                changes[host.GetProperty("host_id").GetString()!] = host.GetProperty("status_changed_at").GetDateTimeOffset();
            }

            cursor = document.RootElement.TryGetProperty("next_cursor", out var next) && next.ValueKind == JsonValueKind.String
                ? next.GetString()
                : null;
            if (cursor is null)
            {
                break;
            }
        }

        return changes;
    }

    /// <summary>An operator GET, tried up to five times a second apart (a restarted silo answers 503 for a moment).</summary>
    private async Task<byte[]> GetWithRetryAsync(string url, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _operators.GetByteArrayAsync(url, cancellationToken);
            }
            catch (HttpRequestException) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }

    /// <summary>An operator request with an optional JSON body; returns the status and the answer.</summary>
    public async Task<(int Status, byte[] Body)> OperatorAsync(HttpMethod method, string url, byte[]? json, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, url);
        if (json is not null)
        {
            request.Content = new ByteArrayContent(json);
            request.Content.Headers.ContentType = s_json;
        }

        using var response = await _operators.SendAsync(request, cancellationToken);

        return ((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync(cancellationToken));
    }

    public async Task<bool> SetTeamAsync(string hostId, string teamId, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["team_id"] = teamId });
        var (status, _) = await OperatorAsync(HttpMethod.Put, $"api/v1/hosts/{hostId}/team", body, cancellationToken);

        return status == 200;
    }

    /// <summary>Puts entries straight into the host index (the silo's benchmark-only seeding endpoint).</summary>
    public async Task SeedIndexAsync(IReadOnlyList<object> entries, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(entries));
        content.Headers.ContentType = new("application/json");
        using var response = await _silo.PostAsync("debug/index/seed", content, cancellationToken);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// The silo's benchmark population: enrolls the hosts and takes each through one real refetch by calling its
    /// grain. Returns the node keys of the hosts that ended verified.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> PopulateAsync(JsonArray hosts, int concurrency, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["hosts"] = hosts, ["concurrency"] = concurrency };
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body.ToJsonString()));
        content.Headers.ContentType = s_json;
        using var response = await _silo.PostAsync("debug/hosts/populate", content, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(cancellationToken));

        return document.RootElement.GetProperty("node_keys").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
    }

    public async Task<StorageCounts> StorageWritesAsync(CancellationToken cancellationToken)
    {
        using var document = JsonDocument.Parse(await _silo.GetByteArrayAsync("debug/storage-writes", cancellationToken));
        var root = document.RootElement;

        return new StorageCounts(
            root.GetProperty("grain_state").GetInt64(),
            root.GetProperty("reminder").GetInt64(),
            root.GetProperty("index").GetInt64());
    }

    public async Task<FlushCounts> LastSeenFlushesAsync(CancellationToken cancellationToken)
    {
        using var document = JsonDocument.Parse(await _silo.GetByteArrayAsync("debug/last-seen-flushes", cancellationToken));
        var root = document.RootElement;

        return new FlushCounts(root.GetProperty("stored").GetInt64(), root.GetProperty("failed").GetInt64(), root.GetProperty("skipped").GetInt64());
    }

    /// <summary>distributed/read check-ins the Api answered under a lease, since it started.</summary>
    public async Task<long> LeaseAnswersAsync(CancellationToken cancellationToken)
    {
        using var document = JsonDocument.Parse(await _operators.GetByteArrayAsync("bench/leases", cancellationToken));

        return document.RootElement.GetProperty("answered").GetInt64();
    }

    /// <summary>
    /// The silo's memory. <paramref name="collect"/>: after a full compacting GC; <paramref name="release"/>: after an
    /// aggressive one, which also hands the GC's free memory back to the operating system.
    /// </summary>
    public async Task<MemorySnapshot> MemoryAsync(bool collect, CancellationToken cancellationToken, bool release = false)
    {
        var url = release ? "debug/memory?release=true" : collect ? "debug/memory?collect=true" : "debug/memory";
        using var document = JsonDocument.Parse(await _silo.GetByteArrayAsync(url, cancellationToken));
        var root = document.RootElement;

        return new MemorySnapshot(
            root.GetProperty("working_set_bytes").GetInt64(),
            root.GetProperty("managed_heap_bytes").GetInt64(),
            root.GetProperty("gc_heap_size_bytes").GetInt64(),
            root.GetProperty("activations").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64(), StringComparer.Ordinal),
            root.GetProperty("gc_committed_bytes").GetInt64());
    }

    public void Dispose()
    {
        _agents.Dispose();
        _operators.Dispose();
        _silo.Dispose();
        _handler.Dispose();
    }
}
