using System.Collections.Concurrent;
using System.Net;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Fleet.Tests.Security;

/// <summary>
/// A further in-memory Api on the shared cluster with small rate limits (a bucket refills once an hour, so counts
/// are exact), an operator tokens file, and every log record kept. A request carrying <see cref="RemoteHeader"/>
/// arrives from that address; without it, the request has no address, which the Api treats as loopback.
/// </summary>
public sealed class SecurityApiFixture(ClusterFixture cluster) : IAsyncDisposable
{
    public const string RemoteHeader = "X-Test-Remote-Address";

    /// <summary>Requests each group admits per partition before refusing, in this Api.</summary>
    public const int Burst = 3;

    public const string FileToken = "file-maintainer-token-0123456789";

    private readonly Lock _lock = new();
    private WebApplicationFactory<Program>? _api;

    public ClusterFixture Cluster => cluster;

    public CapturedRecords Logs { get; } = new();

    /// <summary>The operator tokens file this Api watches; it starts with a maintainer token <see cref="FileToken"/>.</summary>
    public string TokensFile { get; } = Path.Combine(Path.GetTempPath(), $"fleet-tokens-{Guid.NewGuid():N}", "tokens.json");

    public HttpClient Client(string? token = null, string? remoteAddress = null)
    {
        var client = Api().CreateClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }

        if (remoteAddress is not null)
        {
            client.DefaultRequestHeaders.Add(RemoteHeader, remoteAddress);
        }

        return client;
    }

    public T Service<T>()
        where T : notnull => Api().Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        if (_api is not null)
        {
            await _api.DisposeAsync();
        }

        Directory.Delete(Path.GetDirectoryName(TokensFile)!, recursive: true);
    }

    /// <summary>A JSON tokens file holding one token in clear.</summary>
    public static string TokensJson(string name, string role, string token) =>
        $"[{{\"name\": \"{name}\", \"role\": \"{role}\", \"token\": \"{token}\"}}]";

    private WebApplicationFactory<Program> Api()
    {
        lock (_lock)
        {
            if (_api is null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(TokensFile)!);
                File.WriteAllText(TokensFile, TokensJson("file-maintainer", "maintainer", FileToken));
            }

            return _api ??= cluster.Api.WithWebHostBuilder(builder =>
            {
                builder.UseSetting("Fleet:Api:TokensFile", TokensFile);
                foreach (var group in new[] { "Operators", "Agents", "Enroll", "EnrollPerHost", "Mdm", "Public" })
                {
                    builder.UseSetting($"Fleet:Api:RateLimits:{group}:Permits", "1");
                    builder.UseSetting($"Fleet:Api:RateLimits:{group}:Period", "01:00:00");
                    builder.UseSetting($"Fleet:Api:RateLimits:{group}:Burst", $"{Burst}");
                }

                builder.ConfigureServices(services => services.AddSingleton<IStartupFilter, RemoteAddressFromHeader>());
                builder.ConfigureLogging(logging =>
                {
                    logging.SetMinimumLevel(LogLevel.Trace);
                    logging.AddProvider(Logs);
                    logging.AddFilter<CapturedRecords>(null, LogLevel.Trace);
                });
            });
        }
    }

    private sealed class RemoteAddressFromHeader : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                if (context.Request.Headers.TryGetValue(RemoteHeader, out var address))
                {
                    context.Connection.RemoteIpAddress = IPAddress.Parse(address!);
                }

                return nextMiddleware(context);
            });
            next(app);
        };
    }
}

/// <summary>Every log record: its message, its structured values, its scopes and its exception, as text.</summary>
public sealed class CapturedRecords : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<CapturedRecord> _records = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyList<CapturedRecord> Records => [.. _records];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, this);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(string category, CapturedRecords owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(
            LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new List<string>();
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                values.AddRange(pairs.Select(p => $"{p.Key}={p.Value}"));
            }

            owner._scopes.ForEachScope((scope, list) => list.Add(scope is IEnumerable<KeyValuePair<string, object?>> scoped
                ? "scope: " + string.Join(", ", scoped.Select(p => $"{p.Key}={p.Value}"))
                : $"scope: {scope}"), values);
            if (exception is not null)
            {
                values.Add(exception.ToString());
            }

            owner._records.Enqueue(new CapturedRecord(category, logLevel, eventId.Id, formatter(state, exception), values));
        }
    }
}

public sealed record CapturedRecord(string Category, LogLevel Level, int EventId, string Message, IReadOnlyList<string> Values)
{
    public bool Mentions(string text) =>
        Message.Contains(text, StringComparison.OrdinalIgnoreCase) || Values.Any(v => v.Contains(text, StringComparison.OrdinalIgnoreCase));
}
