using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Fleet.Api.Agents;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Fleet.Api.Security;

/// <summary>One token bucket: <see cref="Permits"/> requests every <see cref="Period"/>, up to <see cref="Burst"/> at once.</summary>
public sealed class RateLimit
{
    public int Permits { get; set; }

    public TimeSpan Period { get; set; } = TimeSpan.FromSeconds(1);

    public int Burst { get; set; }

    internal TokenBucketRateLimiterOptions Bucket() => new()
    {
        TokenLimit = Burst,
        TokensPerPeriod = Permits,
        ReplenishmentPeriod = Period,
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}

/// <summary>
/// Request rates per endpoint group. Bound from <c>Fleet:Api:RateLimits</c>. Each group's limit applies per
/// partition (an operator, a source address, a host); a process keeps its own counts, so N Api processes admit N times as much.
/// </summary>
public sealed class RateLimitOptions
{
    public const string SectionName = "Fleet:Api:RateLimits";

    /// <summary>Operator API, per operator (token name); requests without a valid token count per source address.</summary>
    public RateLimit Operators { get; set; } = new() { Permits = 50, Burst = 200 };

    /// <summary>osquery config, distributed read and write, log: per source address. ~0.3 requests/s per agent.</summary>
    public RateLimit Agents { get; set; } = new() { Permits = 500, Burst = 1000 };

    /// <summary>osquery enroll, per source address.</summary>
    public RateLimit Enroll { get; set; } = new() { Permits = 20, Burst = 100 };

    /// <summary>osquery enroll, per host identifier, whatever the source; a healthy agent enrolls once.</summary>
    public RateLimit EnrollPerHost { get; set; } = new() { Permits = 5, Period = TimeSpan.FromMinutes(1), Burst = 10 };

    /// <summary>Apple MDM check-ins and command reports, per source address.</summary>
    public RateLimit Mdm { get; set; } = new() { Permits = 200, Burst = 400 };

    /// <summary>Status page, health, metrics and API documentation, per source address.</summary>
    public RateLimit Public { get; set; } = new() { Permits = 20, Burst = 100 };

    /// <summary>
    /// Replaces every group's limit for requests from a loopback address (and in-process tests), where the agent
    /// simulator, the benchmark harness and the CLI drive thousands of hosts from one address.
    /// </summary>
    public RateLimit Loopback { get; set; } = new() { Permits = 100_000, Burst = 100_000 };
}

/// <summary>Refuses to start with a limit that would admit nothing, naming the key.</summary>
internal sealed class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitOptions options)
    {
        var errors = new List<string>();
        Check(errors, nameof(options.Operators), options.Operators);
        Check(errors, nameof(options.Agents), options.Agents);
        Check(errors, nameof(options.Enroll), options.Enroll);
        Check(errors, nameof(options.EnrollPerHost), options.EnrollPerHost);
        Check(errors, nameof(options.Mdm), options.Mdm);
        Check(errors, nameof(options.Public), options.Public);
        Check(errors, nameof(options.Loopback), options.Loopback);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(List<string> errors, string group, RateLimit limit)
    {
        var key = $"{RateLimitOptions.SectionName}:{group}";
        if (limit.Permits < 1 || limit.Burst < 1)
        {
            errors.Add($"{key}:Permits and {key}:Burst must be at least 1 (were {limit.Permits} and {limit.Burst}).");
        }

        if (limit.Period <= TimeSpan.Zero)
        {
            errors.Add($"{key}:Period must be positive (was {limit.Period}).");
        }
    }
}

/// <summary>The rate limiting policies, one per endpoint group, and the 429 each group answers.</summary>
public static partial class RateLimits
{
    public const string Operators = "operators";
    public const string Agents = "agents";
    public const string Enroll = "enroll";
    public const string Mdm = "mdm";
    public const string Public = "public";

    internal static IServiceCollection AddFleetRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RateLimitOptions>()
            .Bind(configuration.GetSection(RateLimitOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RateLimitOptions>, RateLimitOptionsValidator>();
        services.AddSingleton<EnrollHostLimiter>();
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = RejectAsync;
            limiter.AddPolicy(Operators, context => Partition(context, Operators, o => o.Operators, OperatorOf(context)));
            limiter.AddPolicy(Agents, context => Partition(context, Agents, o => o.Agents, SourceOf(context)));
            limiter.AddPolicy(Enroll, context => Partition(context, Enroll, o => o.Enroll, SourceOf(context)));
            limiter.AddPolicy(Mdm, context => Partition(context, Mdm, o => o.Mdm, SourceOf(context)));
            limiter.AddPolicy(Public, context => Partition(context, Public, o => o.Public, SourceOf(context)));
        });

        return services;
    }

    /// <summary>Whether the request comes from this machine; an in-process test server has no address at all.</summary>
    internal static bool IsLoopback(HttpContext context) =>
        context.Connection.RemoteIpAddress is not { } address || IPAddress.IsLoopback(address);

    /// <summary>Seconds to put in <c>Retry-After</c>: whole seconds, at least one.</summary>
    internal static string RetryAfterSeconds(TimeSpan? wait) =>
        Math.Max(1, (int)Math.Ceiling((wait ?? TimeSpan.FromSeconds(1)).TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static RateLimitPartition<string> Partition(
        HttpContext context, string group, Func<RateLimitOptions, RateLimit> pick, string who)
    {
        var options = context.RequestServices.GetRequiredService<IOptionsMonitor<RateLimitOptions>>().CurrentValue;
        var loopback = IsLoopback(context);
        var limit = loopback ? options.Loopback : pick(options);

        return RateLimitPartition.GetTokenBucketLimiter($"{group}|{(loopback ? "loopback" : "remote")}|{who}", _ => limit.Bucket());
    }

    private static string SourceOf(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "in-process";

    private static string OperatorOf(HttpContext context) =>
        context.User.Identity is { IsAuthenticated: true, Name: { } name } ? $"operator:{name}" : $"source:{SourceOf(context)}";

    private static async ValueTask RejectAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var context = rejected.HttpContext;
        var policy = context.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName ?? "unknown";
        rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait);
        var retryAfter = RetryAfterSeconds(wait);
        context.Response.Headers.RetryAfter = retryAfter;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RateLimits).FullName!);
        LogRejected(logger, policy, context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress?.ToString());
        var detail = $"Too many requests for this {Describe(policy)}; retry after {retryAfter} s.";
        if (policy is Agents or Enroll)
        {
            await AgentResults.TooManyRequests(detail).ExecuteAsync(context);
            return;
        }

        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = StatusCodes.Status429TooManyRequests, Title = "Too many requests", Detail = detail },
        });
    }

    private static string Describe(string policy) => policy switch
    {
        Operators => "operator",
        Enroll => "source's enrollments",
        _ => "source address",
    };

    [LoggerMessage(EventId = 330, Level = LogLevel.Warning,
        Message = "Rate limit {Policy}: refused {Method} {Path} from {RemoteAddress}")]
    private static partial void LogRejected(ILogger logger, string policy, string method, PathString path, string? remoteAddress);
}

/// <summary>
/// The per-host enrollment limit. The host identifier is in the body, which the rate limiting middleware never
/// reads, so the enroll handler asks this after parsing. Idle hosts' buckets are dropped by the limiter.
/// </summary>
public sealed class EnrollHostLimiter(IOptionsMonitor<RateLimitOptions> options) : IDisposable
{
    private readonly PartitionedRateLimiter<(string HostId, bool Loopback)> _limiter =
        PartitionedRateLimiter.Create<(string HostId, bool Loopback), string>(request =>
            RateLimitPartition.GetTokenBucketLimiter(
                $"{(request.Loopback ? "loopback" : "remote")}|{request.HostId}",
                _ => (request.Loopback ? options.CurrentValue.Loopback : options.CurrentValue.EnrollPerHost).Bucket()));

    /// <summary>Takes one enrollment for the host; a refusal says how long to wait.</summary>
    public bool TryAcquire(HttpContext context, string hostId, out TimeSpan? retryAfter)
    {
        using var lease = _limiter.AttemptAcquire((hostId, RateLimits.IsLoopback(context)));
        retryAfter = !lease.IsAcquired && lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : null;

        return lease.IsAcquired;
    }

    public void Dispose() => _limiter.Dispose();
}
