using Fleet.Grains.Mdm;
using Fleet.Silo;
using Fleet.Silo.Diagnostics;
using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// Builds Orleans test clusters wired exactly like the silo process: Azure Table membership, grain state,
/// reminders and index in Azurite. Each cluster gets its own cluster and service ids, so clusters never
/// see each other's hosts.
/// </summary>
public static class FleetTestCluster
{
    /// <summary>
    /// Timeouts the tests rely on. Linux and Windows hosts time out within seconds; macOS 14 and 15 hosts
    /// never do during a test, so flows that must not race a deadline use one of those. The MDM part of a
    /// <c>darwin</c> (macOS 13) refetch times out within seconds; re-pushes start 300 ms apart. Renewed device
    /// identities are issued from <see cref="TestPki.DeviceCa"/>, with the product's renewal settings.
    /// </summary>
    public static Dictionary<string, string?> DefaultSettings() => new()
    {
        ["Fleet:Refetch:ReminderPeriod"] = "00:00:02",
        ["Fleet:Refetch:Policies:linux:PickupTimeout"] = "00:00:02",
        ["Fleet:Refetch:Policies:linux:ResultsTimeout"] = "00:00:02",
        ["Fleet:Refetch:Policies:linux:MaxAttempts"] = "2",
        ["Fleet:Refetch:Policies:linux:RetryBackoff"] = "00:00:00.500",
        ["Fleet:Refetch:Policies:linux:MaxRetryBackoff"] = "00:00:01",
        ["Fleet:Refetch:Policies:windows:PickupTimeout"] = "00:00:01",
        ["Fleet:Refetch:Policies:windows:ResultsTimeout"] = "00:00:01",
        ["Fleet:Refetch:Policies:windows:MaxAttempts"] = "1",
        ["Fleet:Refetch:Policies:windows:RetryBackoff"] = "00:00:00",
        ["Fleet:Refetch:Policies:darwin:PickupTimeout"] = "00:10:00",
        ["Fleet:Refetch:Policies:macos14:PickupTimeout"] = "00:10:00",
        ["Fleet:Refetch:Policies:macos15:PickupTimeout"] = "00:10:00",
        ["Fleet:Refetch:Policies:darwin:ResultsTimeout"] = "00:10:00",
        ["Fleet:Refetch:Policies:macos14:ResultsTimeout"] = "00:10:00",
        ["Fleet:Refetch:Policies:macos15:ResultsTimeout"] = "00:10:00",
        ["Fleet:Refetch:Policies:darwin:MdmAckTimeout"] = "00:00:02",
        ["Fleet:Refetch:Policies:darwin:MdmMaxAttempts"] = "2",
        ["Fleet:Refetch:Policies:darwin:MdmRetryBackoff"] = "00:00:00.500",
        ["Fleet:Refetch:Policies:darwin:MdmMaxRetryBackoff"] = "00:00:01",
        ["Fleet:Mdm:Push:RepushBackoff"] = "00:00:00.300",
        ["Fleet:Mdm:Push:MaxRepushBackoff"] = "00:00:05",
        ["Fleet:Mdm:Push:Timeout"] = "00:00:02",
        ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = TestPki.CaCertificateFile,
        ["Fleet:Mdm:Identity:Issuer:KeyFile"] = TestPki.CaKeyFile,
    };

    public static TestCluster Create(IDictionary<string, string?>? overrides = null, int silos = 1)
    {
        var settings = DefaultSettings();
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        // A test that starts its own storage names it in the overrides; the rest share the run's Azurite.
        settings.TryAdd($"ConnectionStrings:{FleetSiloBuilderExtensions.ConnectionStringName}", TestStorage.ConnectionString);
        var id = $"test-{Guid.NewGuid():N}"[..20];
        var builder = new TestClusterBuilder((short)silos);
        builder.Options.ClusterId = id;
        builder.Options.ServiceId = id;
        builder.Options.UseTestClusterMembership = false;

        // Real sockets: the in-memory Api connects through a gateway like the Api process does.
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.ConfigureHostConfiguration(config => config.AddInMemoryCollection(settings));
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();

        return builder.Build();
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.Services.AddLogging(logging => logging.AddFilter("Polly", LogLevel.Warning));
            var storage = siloBuilder.Configuration.StorageConnectionString();
            siloBuilder.UseAzureStorageClustering(o => o.TableServiceClient = new(storage));
            siloBuilder.AddFleetClusterSettings(siloBuilder.Configuration);
            siloBuilder.AddFleetStorage(siloBuilder.Configuration);
            siloBuilder.AddFleetTracing();
            siloBuilder.Services.AddFleetSiloReadiness();

            // After the product's registration, so that it wins: tests see every push and choose failures.
            siloBuilder.Services.AddSingleton<IPushSender>(TestPushSender.Shared);
            if (siloBuilder.Configuration.GetValue<bool>(InjectedFaults.SettingKey))
            {
                siloBuilder.AddIncomingGrainCallFilter<InjectedFaults.Filter>();
            }
        }
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.UseAzureStorageClustering(o => o.TableServiceClient = new(configuration.StorageConnectionString()));
    }
}
