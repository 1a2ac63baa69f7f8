using Azure.Data.Tables;
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
}

internal static class OrleansClientSetup
{
    public const string ConnectionStringName = "FleetStorage";
    public const string DevelopmentStorage = "UseDevelopmentStorage=true";

    public static string StorageConnectionString(this IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } value ? value : DevelopmentStorage;

    /// <summary>An Orleans client that finds gateways through Azure Table membership and keeps retrying until one answers.</summary>
    public static WebApplicationBuilder AddFleetOrleansClient(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(ClusterClientOptions.SectionName).Get<ClusterClientOptions>()
            ?? new ClusterClientOptions();
        var tables = new TableServiceClient(builder.Configuration.StorageConnectionString());
        builder.Services.AddSingleton(tables);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(cluster =>
            {
                cluster.ClusterId = options.ClusterId;
                cluster.ServiceId = options.ServiceId;
            });
            client.UseAzureStorageClustering(clustering => clustering.TableServiceClient = tables);
            client.Configure<GatewayOptions>(gateway => gateway.GatewayListRefreshPeriod = options.GatewayListRefreshPeriod);
            client.Configure<ClientMessagingOptions>(messaging => messaging.ResponseTimeout = options.ResponseTimeout);
            client.UseConnectionRetryFilter(async (_, cancellationToken) =>
            {
                await Task.Delay(options.ConnectRetryDelay, cancellationToken);
                return true;
            });
        });

        return builder;
    }
}
