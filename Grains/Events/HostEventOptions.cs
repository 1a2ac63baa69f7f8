using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Events;

/// <summary>How a silo relays host events to the hub, and how long a subscription lasts. Bound from <c>Fleet:Events</c>.</summary>
public sealed class HostEventOptions
{
    public const string SectionName = "Fleet:Events";

    public const int DefaultQueueCapacity = 10_000;
    public const int DefaultMaxBatchSize = 256;
    public static readonly TimeSpan DefaultBatchWindow = TimeSpan.FromMilliseconds(50);
    public static readonly TimeSpan DefaultDropWarningInterval = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan DefaultSubscriptionLease = TimeSpan.FromMinutes(2);

    /// <summary>Events a silo holds for the hub; once full, new events are dropped and counted.</summary>
    public int QueueCapacity { get; set; } = DefaultQueueCapacity;

    /// <summary>The most events sent to the hub in one message.</summary>
    public int MaxBatchSize { get; set; } = DefaultMaxBatchSize;

    /// <summary>How long a batch that is not full waits for more events; zero sends what is queued at once.</summary>
    public TimeSpan BatchWindow { get; set; } = DefaultBatchWindow;

    /// <summary>The least time between two Warnings about dropped events; the drops in between are only counted.</summary>
    public TimeSpan DropWarningInterval { get; set; } = DefaultDropWarningInterval;

    /// <summary>How long the hub keeps a subscription that is not renewed.</summary>
    public TimeSpan SubscriptionLease { get; set; } = DefaultSubscriptionLease;
}

/// <summary>Refuses to start with event settings that could not relay anything, naming the key.</summary>
internal sealed class HostEventOptionsValidator(IConfiguration configuration) : IValidateOptions<HostEventOptions>
{
    private static readonly string[] s_keys =
    [
        nameof(HostEventOptions.QueueCapacity), nameof(HostEventOptions.MaxBatchSize), nameof(HostEventOptions.BatchWindow),
        nameof(HostEventOptions.DropWarningInterval), nameof(HostEventOptions.SubscriptionLease),
    ];

    private static readonly HashSet<string> s_known = new(s_keys, StringComparer.OrdinalIgnoreCase);

    // A batch is one grain message; beyond this a message grows large for no gain in throughput.
    private const int MaxBatchLimit = 10_000;

    public ValidateOptionsResult Validate(string? name, HostEventOptions options)
    {
        var errors = new List<string>();
        var section = HostEventOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_keys));
        if (options.QueueCapacity is < 1 or > 1_000_000)
        {
            errors.Add($"{section}:QueueCapacity must be between 1 and 1000000 (was {options.QueueCapacity}).");
        }

        if (options.MaxBatchSize is < 1 or > MaxBatchLimit)
        {
            errors.Add($"{section}:MaxBatchSize must be between 1 and {MaxBatchLimit} (was {options.MaxBatchSize}).");
        }

        if (options.BatchWindow < TimeSpan.Zero || options.BatchWindow > TimeSpan.FromSeconds(10))
        {
            errors.Add($"{section}:BatchWindow must be from 00:00:00 to 00:00:10 (was {options.BatchWindow}).");
        }

        SettingChecks.RequirePositive(errors, $"{section}:DropWarningInterval", options.DropWarningInterval);
        if (options.SubscriptionLease < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{section}:SubscriptionLease must be at least 00:00:01 (was {options.SubscriptionLease}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
