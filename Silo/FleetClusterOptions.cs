using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Fleet.Grains;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Fleet.Silo;

/// <summary>
/// How quickly a silo notices a dead peer, how long its calls wait, and how it treats a storage blip. Bound from
/// <c>Fleet:Cluster</c>, the section whose identity and client settings the Api reads too; docs/architecture.md
/// ("Cluster settings and their trade-offs") says what each value buys and what it costs.
/// </summary>
public sealed class FleetClusterOptions
{
    public const string SectionName = "Fleet:Cluster";

    public static readonly TimeSpan DefaultProbeTimeout = TimeSpan.FromSeconds(2);
    public const int DefaultMissedProbesLimit = 3;
    public const int DefaultVotesForDeathDeclaration = 2;
    public static readonly TimeSpan DefaultDeathVoteExpiration = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultIAmAlivePeriod = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultTableRefreshPeriod = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultDefunctSiloExpiration = TimeSpan.FromDays(1);
    public static readonly TimeSpan DefaultDefunctSiloCleanupPeriod = TimeSpan.FromHours(1);
    public static readonly TimeSpan DefaultResponseTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultReminderRefreshPeriod = TimeSpan.FromMinutes(1);
    public const int DefaultStorageRetries = 2;
    public static readonly TimeSpan DefaultStorageRetryDelay = TimeSpan.FromMilliseconds(250);
    public static readonly TimeSpan DefaultStorageNetworkTimeout = TimeSpan.FromSeconds(10);
    public const int DefaultStorageConnections = 64;

    /// <summary>How long a silo waits for a peer's answer to a liveness probe before it counts the probe missed.</summary>
    public TimeSpan ProbeTimeout { get; set; } = DefaultProbeTimeout;

    /// <summary>Missed probes in a row after which a silo suspects its peer and votes it dead.</summary>
    public int MissedProbesLimit { get; set; } = DefaultMissedProbesLimit;

    /// <summary>Votes that declare a silo dead; with fewer live silos than this, all the others must vote.</summary>
    public int VotesForDeathDeclaration { get; set; } = DefaultVotesForDeathDeclaration;

    /// <summary>How long a vote counts; older votes are ignored, so suspicions must be fresh to kill.</summary>
    public TimeSpan DeathVoteExpiration { get; set; } = DefaultDeathVoteExpiration;

    /// <summary>How often a silo writes its "I am alive" time to the membership table.</summary>
    public TimeSpan IAmAlivePeriod { get; set; } = DefaultIAmAlivePeriod;

    /// <summary>How often a silo re-reads the whole membership table, besides the gossip it receives.</summary>
    public TimeSpan TableRefreshPeriod { get; set; } = DefaultTableRefreshPeriod;

    /// <summary>How long the rows of dead silos stay in the membership table.</summary>
    public TimeSpan DefunctSiloExpiration { get; set; } = DefaultDefunctSiloExpiration;

    /// <summary>How often a silo deletes rows of silos dead longer than <see cref="DefunctSiloExpiration"/>.</summary>
    public TimeSpan DefunctSiloCleanupPeriod { get; set; } = DefaultDefunctSiloCleanupPeriod;

    /// <summary>
    /// How long a grain call may take before it fails with a timeout. The Api reads the same key for its client,
    /// so every grain call in the deployment gives up after the same time.
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = DefaultResponseTimeout;

    /// <summary>How often a silo re-reads the reminders of its share of the ring (reminders other silos registered).</summary>
    public TimeSpan ReminderRefreshPeriod { get; set; } = DefaultReminderRefreshPeriod;

    /// <summary>Retries of a storage request that failed in passing (network, 408, 429, 5xx); never of other 4xx.</summary>
    public int StorageRetries { get; set; } = DefaultStorageRetries;

    /// <summary>First pause before a storage retry; each later one doubles, with jitter.</summary>
    public TimeSpan StorageRetryDelay { get; set; } = DefaultStorageRetryDelay;

    /// <summary>How long one storage request may take before it counts as failed (the SDK's own default is 100 s).</summary>
    public TimeSpan StorageNetworkTimeout { get; set; } = DefaultStorageNetworkTimeout;

    /// <summary>
    /// Most connections one storage client opens to the storage endpoint; further requests wait for one (inside
    /// <see cref="StorageNetworkTimeout"/>). The silo's grain storage and its membership each have a client of their own.
    /// </summary>
    public int StorageConnections { get; set; } = DefaultStorageConnections;

    /// <summary>The settings bound from configuration, with defaults for what is not set.</summary>
    public static FleetClusterOptions From(IConfiguration configuration) =>
        configuration.GetSection(SectionName).Get<FleetClusterOptions>() ?? new FleetClusterOptions();

    /// <summary>
    /// A table client whose retries stay short: a few tries within about a second and a half, then the failure
    /// reaches the grain, which does not acknowledge what it could not store. Its connections are its own and
    /// bounded: by default every Azure client in the process shares one pool that opens a connection per request
    /// in flight, so tens of thousands of idle hosts collected at once, each storing its last-seen time, ran a
    /// benchmark silo out of sockets, and membership's requests would queue behind theirs.
    /// </summary>
    public TableServiceClient CreateTableClient(string connectionString)
    {
        var options = new TableClientOptions
        {
            Transport = new HttpClientTransport(new SocketsHttpHandler
            {
                // The client is built while the silo is being set up, before the validator can refuse a value below 1
                // with its key; the handler would throw on it without naming the setting.
                MaxConnectionsPerServer = Math.Max(1, StorageConnections),
                AllowAutoRedirect = false,
                UseCookies = false,
            }),
        };
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = StorageRetries;
        options.Retry.Delay = StorageRetryDelay;
        options.Retry.MaxDelay = StorageRetryDelay * 4;
        options.Retry.NetworkTimeout = StorageNetworkTimeout;

        return new TableServiceClient(connectionString, options);
    }

    internal void ApplyTo(ISiloBuilder silo)
    {
        silo.Configure<ClusterMembershipOptions>(membership =>
        {
            membership.ProbeTimeout = ProbeTimeout;
            membership.NumMissedProbesLimit = MissedProbesLimit;
            membership.NumVotesForDeathDeclaration = VotesForDeathDeclaration;
            membership.DeathVoteExpirationTimeout = DeathVoteExpiration;
            membership.IAmAliveTablePublishTimeout = IAmAlivePeriod;
            membership.TableRefreshTimeout = TableRefreshPeriod;
            membership.DefunctSiloExpiration = DefunctSiloExpiration;
            membership.DefunctSiloCleanupPeriod = DefunctSiloCleanupPeriod;
        });
        silo.Configure<SiloMessagingOptions>(messaging => messaging.ResponseTimeout = ResponseTimeout);
        silo.Configure<ReminderOptions>(reminders => reminders.RefreshReminderListPeriod = ReminderRefreshPeriod);
    }
}

/// <summary>Refuses to start with membership, timeout or storage settings that could not work, naming the key.</summary>
internal sealed class FleetClusterOptionsValidator(IConfiguration configuration) : IValidateOptions<FleetClusterOptions>
{
    // The Api reads these from the same section; a silo accepts them so one environment can serve both.
    private static readonly string[] s_apiKeys =
    [
        "ClusterId", "ServiceId", "GatewayListRefreshPeriod", "ConnectRetryDelay", "RetryAttempts", "RetryBackoff", "RetryBudget",
    ];

    private static readonly HashSet<string> s_known = new(
        typeof(FleetClusterOptions).GetProperties().Select(p => p.Name).Concat(s_apiKeys), StringComparer.OrdinalIgnoreCase);

    public ValidateOptionsResult Validate(string? name, FleetClusterOptions options)
    {
        var errors = new List<string>();
        var section = FleetClusterOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_known.Order(StringComparer.Ordinal)));
        RequireAtLeast(errors, $"{section}:ProbeTimeout", options.ProbeTimeout, TimeSpan.FromMilliseconds(500));
        SettingChecks.RequireBetween(errors, $"{section}:MissedProbesLimit", options.MissedProbesLimit, 1, 10);
        SettingChecks.RequireBetween(errors, $"{section}:VotesForDeathDeclaration", options.VotesForDeathDeclaration, 1, 10);
        var detection = options.ProbeTimeout * options.MissedProbesLimit;
        if (options.DeathVoteExpiration <= detection)
        {
            errors.Add($"{section}:DeathVoteExpiration must be longer than ProbeTimeout × MissedProbesLimit ({detection}), " +
                $"or votes expire before a second silo can add its own (was {options.DeathVoteExpiration}).");
        }

        SettingChecks.RequirePositive(errors, $"{section}:IAmAlivePeriod", options.IAmAlivePeriod);
        SettingChecks.RequirePositive(errors, $"{section}:TableRefreshPeriod", options.TableRefreshPeriod);
        RequireAtLeast(errors, $"{section}:DefunctSiloExpiration", options.DefunctSiloExpiration, TimeSpan.FromHours(1));
        SettingChecks.RequirePositive(errors, $"{section}:DefunctSiloCleanupPeriod", options.DefunctSiloCleanupPeriod);
        SettingChecks.RequirePositive(errors, $"{section}:ResponseTimeout", options.ResponseTimeout);
        SettingChecks.RequirePositive(errors, $"{section}:ReminderRefreshPeriod", options.ReminderRefreshPeriod);
        SettingChecks.RequireBetween(errors, $"{section}:StorageRetries", options.StorageRetries, 0, 5);
        SettingChecks.RequirePositive(errors, $"{section}:StorageRetryDelay", options.StorageRetryDelay);
        SettingChecks.RequirePositive(errors, $"{section}:StorageNetworkTimeout", options.StorageNetworkTimeout);
        SettingChecks.RequireBetween(errors, $"{section}:StorageConnections", options.StorageConnections, 1, 10_000);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void RequireAtLeast(List<string> errors, string key, TimeSpan value, TimeSpan minimum)
    {
        if (value < minimum)
        {
            errors.Add($"{key} must be at least {minimum} (was {value}).");
        }
    }
}
