using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Clustering.AzureStorage;
using Orleans.Configuration;

namespace Fleet.Api.Hosting;

/// <summary>The Api's cluster connection. Bound from <c>Fleet:Cluster</c>.</summary>
public sealed class ClusterClientOptions
{
    public const string SectionName = "Fleet:Cluster";

    /// <summary>Cluster to join; must match the silos' <c>Fleet:Silo:ClusterId</c>.</summary>
    public string ClusterId { get; set; } = "fleet-dev";

    /// <summary>Must match the silos' <c>Fleet:Silo:ServiceId</c>.</summary>
    public string ServiceId { get; set; } = "fleet-orleans";

    /// <summary>How often the gateway list is re-read from membership; low so a dead silo is dropped quickly.</summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a grain call may take before it fails; Orleans' own default (30 s) hangs requests through a dead gateway.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Pause between attempts to reach the cluster at start-up.</summary>
    public TimeSpan ConnectRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Most tries of an idempotent grain call that failed in passing (a dead gateway, a rejected message).</summary>
    public int RetryAttempts { get; set; } = 3;

    /// <summary>First pause before a retry; each later one doubles, and each is jittered down to half.</summary>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// No retry starts once this long has passed since the first try, so a request's retries stay well inside
    /// <see cref="ResponseTimeout"/> and a call that already timed out is not repeated.
    /// </summary>
    public TimeSpan RetryBudget { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Refuses to start with client timings that could not work, naming the key.</summary>
internal sealed class ClusterClientOptionsValidator : IValidateOptions<ClusterClientOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterClientOptions options)
    {
        var section = ClusterClientOptions.SectionName;
        var errors = new List<string>();
        var positive = new (string Key, TimeSpan Value)[]
        {
            (nameof(options.GatewayListRefreshPeriod), options.GatewayListRefreshPeriod),
            (nameof(options.ResponseTimeout), options.ResponseTimeout),
            (nameof(options.ConnectRetryDelay), options.ConnectRetryDelay),
            (nameof(options.RetryBackoff), options.RetryBackoff),
        };
        errors.AddRange(positive.Where(p => p.Value <= TimeSpan.Zero).Select(p => $"{section}:{p.Key} must be positive (was {p.Value})."));
        if (options.RetryAttempts is < 1 or > 10)
        {
            errors.Add($"{section}:RetryAttempts must be between 1 and 10 (was {options.RetryAttempts}).");
        }

        if (options.RetryBudget < TimeSpan.Zero || options.RetryBudget >= options.ResponseTimeout)
        {
            errors.Add($"{section}:RetryBudget must be from 0 to less than ResponseTimeout ({options.ResponseTimeout}) (was {options.RetryBudget}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal static partial class OrleansClientSetup
{
    public const string ConnectionStringName = "FleetStorage";
    public const string DevelopmentStorage = "UseDevelopmentStorage=true";

    public static string StorageConnectionString(this IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } value ? value : DevelopmentStorage;

    /// <summary>
    /// An Orleans client that finds gateways through Azure Table membership and keeps retrying until one
    /// answers. Every setting is read from the final configuration when the client starts, so hosts that
    /// add configuration late (tests, environment-specific files) are honoured.
    /// </summary>
    public static WebApplicationBuilder AddFleetOrleansClient(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ClusterClientOptions>().BindConfiguration(ClusterClientOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterClientOptions>, ClusterClientOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IdempotentCalls>();
        services.AddSingleton(sp => new TableServiceClient(sp.GetRequiredService<IConfiguration>().StorageConnectionString()));
        builder.UseOrleansClient(client =>
        {
            client.UseAzureStorageClustering((OptionsBuilder<AzureStorageGatewayOptions> gateway) =>
                gateway.Configure<TableServiceClient>((options, tables) => options.TableServiceClient = tables));
            client.Services.AddOptions<ClusterOptions>().Configure<IOptions<ClusterClientOptions>>((cluster, fleet) =>
            {
                cluster.ClusterId = fleet.Value.ClusterId;
                cluster.ServiceId = fleet.Value.ServiceId;
            });
            client.Services.AddOptions<GatewayOptions>().Configure<IOptions<ClusterClientOptions>>((gateway, fleet) =>
                gateway.GatewayListRefreshPeriod = fleet.Value.GatewayListRefreshPeriod);
            client.Services.AddOptions<ClientMessagingOptions>().Configure<IOptions<ClusterClientOptions>>((messaging, fleet) =>
                messaging.ResponseTimeout = fleet.Value.ResponseTimeout);
            client.Services.AddSingleton<IClientConnectionRetryFilter, RetryUntilConnected>();

            // Grain calls continue the request's trace, and carry its baggage (the host id) to the silo.
            client.AddActivityPropagation();
        });

        return builder;
    }

    /// <summary>The Api may start before any silo; it keeps trying rather than failing its start-up.</summary>
    private sealed partial class RetryUntilConnected(
        IOptions<ClusterClientOptions> options,
        ILogger<RetryUntilConnected> logger) : IClientConnectionRetryFilter
    {
        private int _attempts;

        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            LogClusterUnreachable(++_attempts, options.Value.ClusterId, exception.Message);
            await Task.Delay(options.Value.ConnectRetryDelay, cancellationToken);

            return true;
        }

        [LoggerMessage(EventId = 310, Level = LogLevel.Warning,
            Message = "Cluster {ClusterId} not reachable yet (attempt {Attempt}): {Error}; retrying")]
        private partial void LogClusterUnreachable(int attempt, string clusterId, string error);
    }
}
