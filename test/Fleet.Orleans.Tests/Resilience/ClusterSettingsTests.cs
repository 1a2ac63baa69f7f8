using Fleet.Silo;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Fleet.Tests.Resilience;

/// <summary><c>Fleet:Cluster</c> on a silo: its values reach Orleans' own options, and wrong ones are refused by key.</summary>
public sealed class ClusterSettingsTests
{
    [Fact]
    public void Defaults_ReachOrleansMembershipMessagingAndReminderOptions()
    {
        using var host = BuildSilo([]);

        var membership = host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(2), membership.ProbeTimeout);
        Assert.Equal(3, membership.NumMissedProbesLimit);
        Assert.Equal(2, membership.NumVotesForDeathDeclaration);
        Assert.Equal(TimeSpan.FromSeconds(30), membership.DeathVoteExpirationTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), membership.IAmAliveTablePublishTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), membership.TableRefreshTimeout);
        Assert.Equal(TimeSpan.FromDays(1), membership.DefunctSiloExpiration);
        Assert.Equal(TimeSpan.FromSeconds(10), host.Services.GetRequiredService<IOptions<SiloMessagingOptions>>().Value.ResponseTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), host.Services.GetRequiredService<IOptions<ReminderOptions>>().Value.RefreshReminderListPeriod);
    }

    [Fact]
    public void ApiKeysInTheSameSection_AreAccepted_AndAChangedValueIsApplied()
    {
        using var host = BuildSilo(new()
        {
            ["Fleet:Cluster:ClusterId"] = "fleet-dev",
            ["Fleet:Cluster:RetryBudget"] = "00:00:01",
            ["Fleet:Cluster:ProbeTimeout"] = "00:00:01",
        });

        Assert.Equal(TimeSpan.FromSeconds(1), host.Services.GetRequiredService<IOptions<FleetClusterOptions>>().Value.ProbeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value.ProbeTimeout);
    }

    [Fact]
    public void WrongValues_AreRefused_EachNamingItsKey()
    {
        using var host = BuildSilo(new()
        {
            ["Fleet:Cluster:ProbeTimout"] = "00:00:01",
            ["Fleet:Cluster:MissedProbesLimit"] = "11",
            ["Fleet:Cluster:DeathVoteExpiration"] = "00:00:20",
            ["Fleet:Cluster:StorageRetries"] = "9",
            ["Fleet:Cluster:StorageConnections"] = "0",
        });

        var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<FleetClusterOptions>>().Value);

        var failures = error.Failures.ToList();
        Assert.Equal(5, failures.Count);
        Assert.StartsWith("Fleet:Cluster:ProbeTimout is not a setting; use ", failures[0], StringComparison.Ordinal);
        Assert.Equal(
            [
                "Fleet:Cluster:MissedProbesLimit must be between 1 and 10 (was 11).",
                "Fleet:Cluster:DeathVoteExpiration must be longer than ProbeTimeout × MissedProbesLimit (00:00:22), " +
                    "or votes expire before a second silo can add its own (was 00:00:20).",
                "Fleet:Cluster:StorageRetries must be between 0 and 5 (was 9).",
                "Fleet:Cluster:StorageConnections must be between 1 and 10000 (was 0).",
            ],
            failures[1..]);
    }

    [Fact]
    public void ZeroStorageConnections_IsRefusedWithItsKey_WhenTheWholeSiloIsBuilt()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:FleetStorage"] = TestStorage.ConnectionString,
            ["Fleet:Cluster:StorageConnections"] = "0",
        });

        // Building used to throw from the storage client's HTTP handler, before any setting was checked.
        builder.UseOrleans(silo => silo.UseFleetSilo(builder.Configuration));
        using var host = builder.Build();

        var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<FleetClusterOptions>>().Value);
        Assert.Equal(["Fleet:Cluster:StorageConnections must be between 1 and 10000 (was 0)."], error.Failures);
    }

    private static IHost BuildSilo(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.UseOrleans(silo => silo.AddFleetClusterSettings(builder.Configuration));

        return builder.Build();
    }
}
