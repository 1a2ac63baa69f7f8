using System.Net;
using Azure.Data.Tables;
using Fleet.Grains;
using Fleet.Grains.Jobs;
using Fleet.Grains.Refetch;
using Fleet.Silo.Diagnostics;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;

namespace Fleet.Silo;

/// <summary>Wires a silo to Azure Table storage. Used by the silo process and by the test clusters.</summary>
public static class FleetSiloBuilderExtensions
{
    /// <summary>The connection string's name under <c>ConnectionStrings</c>.</summary>
    public const string ConnectionStringName = "FleetStorage";

    /// <summary>Azurite on its default ports, the embedded default.</summary>
    public const string DevelopmentStorage = "UseDevelopmentStorage=true";

    public static string StorageConnectionString(this IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } value ? value : DevelopmentStorage;

    /// <summary>Grain state, reminders and the index in Azure Table storage; everything but membership.</summary>
    public static ISiloBuilder AddFleetStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        var tables = FleetClusterOptions.From(configuration).CreateTableClient(configuration.StorageConnectionString());
        silo.Services.AddSingleton(tables);
        silo.AddAzureTableGrainStorage(FleetStorage.HostStore, options =>
        {
            options.TableServiceClient = tables;
            options.TableName = FleetStorage.GrainStateTable;
        });
        silo.AddAzureTableGrainStorage(FleetStorage.TeamStore, options => options.TableServiceClient = tables);
        silo.AddAzureTableGrainStorage(FleetStorage.IdentityStore, options => options.TableServiceClient = tables);
        silo.AddAzureTableGrainStorage(FleetStorage.JobStore, options => options.TableServiceClient = tables);
        silo.AddAzureTableGrainStorage(FleetStorage.IdempotencyStore, options => options.TableServiceClient = tables);
        silo.UseAzureTableReminderService(options => options.TableServiceClient = tables);

        // Orleans refuses reminder periods below its minimum (1 minute by default); follow the configured period.
        var hostPeriod = configuration.GetValue<TimeSpan?>($"{RefetchOptions.SectionName}:{nameof(RefetchOptions.ReminderPeriod)}")
            ?? RefetchOptions.DefaultReminderPeriod;
        var jobPeriod = configuration.GetValue<TimeSpan?>($"{RefetchJobOptions.SectionName}:{nameof(RefetchJobOptions.ReminderPeriod)}")
            ?? RefetchJobOptions.DefaultReminderPeriod;
        var period = hostPeriod < jobPeriod ? hostPeriod : jobPeriod;
        silo.Configure<ReminderOptions>(options =>
        {
            if (period < options.MinimumReminderPeriod)
            {
                options.MinimumReminderPeriod = period;
            }
        });
        silo.Services.AddFleetGrains(configuration);

        return silo;
    }

    /// <summary>
    /// Membership, call timeout and reminder refresh from <c>Fleet:Cluster</c> (validated at start), so that losing
    /// a silo costs seconds. The test clusters call it too.
    /// </summary>
    public static ISiloBuilder AddFleetClusterSettings(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.Services.AddOptions<FleetClusterOptions>()
            .Bind(configuration.GetSection(FleetClusterOptions.SectionName))
            .ValidateOnStart();
        silo.Services.AddSingleton<IValidateOptions<FleetClusterOptions>>(new FleetClusterOptionsValidator(configuration));
        FleetClusterOptions.From(configuration).ApplyTo(silo);

        return silo;
    }

    /// <summary>The whole silo of the silo process: cluster identity, endpoints, membership, storage, dashboard.</summary>
    public static ISiloBuilder UseFleetSilo(this ISiloBuilder silo, IConfiguration configuration)
    {
        var options = configuration.GetSection(FleetSiloOptions.SectionName).Get<FleetSiloOptions>() ?? new FleetSiloOptions();
        silo.Configure<ClusterOptions>(cluster =>
        {
            cluster.ClusterId = options.ClusterId;
            cluster.ServiceId = options.ServiceId;
        });
        silo.ConfigureEndpoints(IPAddress.Loopback, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
        silo.UseAzureStorageClustering(clustering => clustering.TableServiceClient =
            FleetClusterOptions.From(configuration).CreateTableClient(configuration.StorageConnectionString()));
        silo.AddFleetClusterSettings(configuration);
        silo.AddFleetStorage(configuration);
        silo.AddDashboard();
        silo.AddFleetTracing();
        if (options.CollectionAge is { } age)
        {
            silo.Configure<GrainCollectionOptions>(collection => collection.CollectionAge = age);
        }

        return silo;
    }
}

/// <summary>The silo's cluster identity and ports. Bound from <c>Fleet:Silo</c>.</summary>
public sealed class FleetSiloOptions
{
    public const string SectionName = "Fleet:Silo";

    /// <summary>Cluster this silo joins; the Api must use the same value.</summary>
    public string ClusterId { get; set; } = "fleet-dev";

    /// <summary>Service identity; keys grain state and reminders, so it must stay the same across deployments.</summary>
    public string ServiceId { get; set; } = "fleet-orleans";

    /// <summary>Port for silo-to-silo traffic.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (the Api) connect to.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>How long an idle grain stays in memory; unset keeps Orleans' default (15 minutes).</summary>
    public TimeSpan? CollectionAge { get; set; }
}
