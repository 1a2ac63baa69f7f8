using System.Collections.Concurrent;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Fleet.Tests.Mdm;

/// <summary>
/// A second in-memory Api on the shared cluster whose log lines tests can read, so that the rules
/// "answer 200 and log a Warning" can be checked, not only their status codes.
/// </summary>
public sealed class MdmApiFixture(ClusterFixture cluster) : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private WebApplicationFactory<Program>? _api;

    public CapturedLogs Logs { get; } = new();

    public ClusterFixture Cluster => cluster;

    public HttpClient DeviceClient() => Api().CreateClient();

    public HttpClient OperatorClient(string token = ApiFactory.MaintainerToken)
    {
        var client = Api().CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        if (_api is not null)
        {
            await _api.DisposeAsync();
        }
    }

    private WebApplicationFactory<Program> Api()
    {
        lock (_lock)
        {
            return _api ??= cluster.Api.WithWebHostBuilder(builder => builder.ConfigureLogging(logging =>
            {
                logging.AddProvider(Logs);
                logging.AddFilter<CapturedLogs>("Fleet.Api", LogLevel.Debug);
            }));
        }
    }
}

/// <summary>Every log line the Api writes, kept in memory.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<LogLine> _lines = new();

    public IReadOnlyList<LogLine> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    /// <summary>The lines at <paramref name="level"/> that mention <paramref name="text"/>.</summary>
    public IReadOnlyList<LogLine> Mentioning(string text, LogLevel level) =>
        [.. _lines.Where(l => l.Level == level && l.Message.Contains(text, StringComparison.Ordinal))];

    private sealed class Logger(string category, ConcurrentQueue<LogLine> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(
            LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(new LogLine(category, logLevel, eventId.Id, formatter(state, exception)));
    }
}

public sealed record LogLine(string Category, LogLevel Level, int EventId, string Message);
