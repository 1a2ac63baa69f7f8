using System.Net;
using System.Text.Json.Nodes;

namespace Fleet.Tests.Events;

/// <summary>One record of an event stream: an event with its type and data, or a comment line.</summary>
public sealed record SseRecord(string? EventType, string? Data, string? Comment)
{
    public JsonObject Json => JsonNode.Parse(Data!)!.AsObject();
}

/// <summary>Reads an open <c>text/event-stream</c> response record by record, with a deadline on each read.</summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseClient(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body);
    }

    public static async Task<SseClient> OpenAsync(HttpClient http, string path)
    {
        var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: expected 200, got {(int)response.StatusCode}");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        return new SseClient(response, await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>The next event or comment; fails when none arrives within <paramref name="timeout"/>.</summary>
    public async Task<SseRecord> ReadAsync(TimeSpan timeout, string what)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(timeout);
        string? type = null;
        List<string> data = [];
        while (true)
        {
            string? line;
            try
            {
                line = await _reader.ReadLineAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                Assert.Fail($"{what}: nothing within {timeout.TotalSeconds:F1} s");
                throw;
            }

            Assert.True(line is not null, $"{what}: the stream ended");
            if (line.StartsWith(':'))
            {
                return new SseRecord(null, null, line[1..].Trim());
            }

            if (line.Length == 0 && (type is not null || data.Count > 0))
            {
                return new SseRecord(type, string.Join('\n', data), null);
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Add(line["data: ".Length..]);
            }
        }
    }

    /// <summary>The next event, skipping comments.</summary>
    public async Task<SseRecord> NextEventAsync(TimeSpan timeout, string what)
    {
        var until = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            var record = await ReadAsync(Remaining(until), what);
            if (record.Comment is null)
            {
                return record;
            }
        }
    }

    /// <summary>Host events until one satisfies <paramref name="done"/>; returns all read, that one last.</summary>
    public async Task<List<JsonObject>> HostEventsUntilAsync(Func<JsonObject, bool> done, TimeSpan timeout, string what)
    {
        var until = DateTimeOffset.UtcNow + timeout;
        var seen = new List<JsonObject>();
        while (true)
        {
            var record = await NextEventAsync(Remaining(until), $"{what} (after {seen.Count} host events)");
            Assert.True(record.EventType == "host", $"{what}: expected event 'host', got '{record.EventType}' with '{record.Data}'");
            seen.Add(record.Json);
            if (done(record.Json))
            {
                return seen;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        await Task.CompletedTask;
    }

    private static TimeSpan Remaining(DateTimeOffset until)
    {
        var left = until - DateTimeOffset.UtcNow;

        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }
}
