using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Osquery;

/// <summary>How agents' check-ins are answered. Bound from <c>Fleet:CheckIns</c>.</summary>
public sealed class CheckInOptions
{
    public const string SectionName = "Fleet:CheckIns";

    public static readonly TimeSpan DefaultQuietLease = TimeSpan.FromSeconds(30);

    /// <summary>The longest lease the silo grants.</summary>
    public static readonly TimeSpan MaxQuietLease = TimeSpan.FromMinutes(5);

    public const int DefaultDeactivationFlushes = 16;

    /// <summary>The most <see cref="DeactivationFlushes"/> a silo may be set to.</summary>
    public const int MaxDeactivationFlushes = 1_000;

    /// <summary>
    /// How long an Api process may answer a host's <c>distributed/read</c> with "nothing owed" on its own after the
    /// host said so, unless the host revokes it first (it does, before anything it owes could be missed). The
    /// host's last-seen time lags its agent's check-ins by at most this much. Zero asks the host every time.
    /// </summary>
    public TimeSpan QuietLease { get; set; } = DefaultQuietLease;

    /// <summary>
    /// How many hosts of one silo write their last-seen time at once while deactivating. A host that checked in
    /// since its last write stores that time on its way out; idle collection, memory pressure or a shutdown take
    /// hundreds of hosts at a time, and the rest wait their turn. Keep it well below
    /// <c>Fleet:Cluster:StorageConnections</c>, so that the hosts still at work find a free connection.
    /// </summary>
    public int DeactivationFlushes { get; set; } = DefaultDeactivationFlushes;
}

/// <summary>
/// Refuses to start with a lease that is negative or longer than <see cref="CheckInOptions.MaxQuietLease"/>, or with
/// fewer than one or more than <see cref="CheckInOptions.MaxDeactivationFlushes"/> deactivation flushes at once.
/// </summary>
internal sealed class CheckInOptionsValidator(IConfiguration configuration) : IValidateOptions<CheckInOptions>
{
    private static readonly HashSet<string> s_known = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(CheckInOptions.QuietLease),
        nameof(CheckInOptions.DeactivationFlushes),
    };

    public ValidateOptionsResult Validate(string? name, CheckInOptions options)
    {
        var errors = new List<string>();
        var section = CheckInOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_known));
        if (options.QuietLease < TimeSpan.Zero || options.QuietLease > CheckInOptions.MaxQuietLease)
        {
            errors.Add($"{section}:QuietLease must be from 00:00:00 (off) to {CheckInOptions.MaxQuietLease} (was {options.QuietLease}).");
        }

        SettingChecks.RequireBetween(
            errors, $"{section}:{nameof(CheckInOptions.DeactivationFlushes)}", options.DeactivationFlushes, 1, CheckInOptions.MaxDeactivationFlushes);

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
