using Fleet.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Jobs;

/// <summary>How fast bulk refetch jobs go and how often they look at their progress. Bound from <c>Fleet:RefetchJobs</c>.</summary>
public sealed class RefetchJobOptions
{
    public const string SectionName = "Fleet:RefetchJobs";

    public const int DefaultDefaultRate = 50;
    public const int DefaultClusterRate = 500;
    public const int DefaultBatchSize = 100;
    public const int MaxBatchSize = 1000;
    public static readonly TimeSpan DefaultProgressPeriod = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultReminderPeriod = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan DefaultStragglerCheckPeriod = TimeSpan.FromMinutes(1);

    /// <summary>Refetch requests per second of a job that names no rate.</summary>
    public int DefaultRate { get; set; } = DefaultDefaultRate;

    /// <summary>Refetch requests per second of every running job together; jobs that ask share it fairly.</summary>
    public int ClusterRate { get; set; } = DefaultClusterRate;

    /// <summary>The most hosts a job reads from the index, records as its write-ahead batch and requests at once.</summary>
    public int BatchSize { get; set; } = DefaultBatchSize;

    /// <summary>How often a job counts its hosts by status in the index (its progress, and whether it is done).</summary>
    public TimeSpan ProgressPeriod { get; set; } = DefaultProgressPeriod;

    /// <summary>
    /// Period of the durable reminder that brings a running or draining job back after a silo restart. Orleans
    /// refuses periods below its own <c>ReminderOptions.MinimumReminderPeriod</c>, which the silo lowers to match.
    /// </summary>
    public TimeSpan ReminderPeriod { get; set; } = DefaultReminderPeriod;

    /// <summary>
    /// How often a draining job asks the hosts the index still shows in flight for it to publish again, in case
    /// the index missed a host's last update (a shard lost it in a crash). A host still in flight republishes
    /// the entry the shard holds, which costs no write.
    /// </summary>
    public TimeSpan StragglerCheckPeriod { get; set; } = DefaultStragglerCheckPeriod;
}

/// <summary>Refuses to start with a rate, batch or period that could not work, naming the key.</summary>
internal sealed class RefetchJobOptionsValidator(IConfiguration configuration) : IValidateOptions<RefetchJobOptions>
{
    private static readonly HashSet<string> s_known = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(RefetchJobOptions.DefaultRate),
        nameof(RefetchJobOptions.ClusterRate),
        nameof(RefetchJobOptions.BatchSize),
        nameof(RefetchJobOptions.ProgressPeriod),
        nameof(RefetchJobOptions.ReminderPeriod),
        nameof(RefetchJobOptions.StragglerCheckPeriod),
    };

    public ValidateOptionsResult Validate(string? name, RefetchJobOptions options)
    {
        var errors = new List<string>();
        var section = RefetchJobOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_known));
        SettingChecks.RequireBetween(errors, $"{section}:DefaultRate", options.DefaultRate, 1, RefetchJobs.MaxRatePerSecond);
        SettingChecks.RequireBetween(errors, $"{section}:ClusterRate", options.ClusterRate, 1, RefetchJobs.MaxRatePerSecond);
        SettingChecks.RequireBetween(errors, $"{section}:BatchSize", options.BatchSize, 1, RefetchJobOptions.MaxBatchSize);
        SettingChecks.RequirePositive(errors, $"{section}:ProgressPeriod", options.ProgressPeriod);
        if (options.ReminderPeriod < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{section}:ReminderPeriod must be at least 00:00:01 (was {options.ReminderPeriod}).");
        }

        SettingChecks.RequirePositive(errors, $"{section}:StragglerCheckPeriod", options.StragglerCheckPeriod);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
