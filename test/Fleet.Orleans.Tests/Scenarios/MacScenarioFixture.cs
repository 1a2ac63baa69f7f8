using System.Globalization;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Scenarios;

/// <summary>
/// A cluster and Api of their own for the macOS scenarios. Profile steps in the shared cluster take the
/// production minutes (a missing profile's grace alone is five), so the scenarios that must outlive a
/// profile or MDM deadline run here, with the shared test settings plus the short profile and macOS 14 and
/// 15 MDM timings below. Tests compute their waits from these values.
/// </summary>
public sealed class MacScenarioFixture() : ClusterFixture(Settings())
{
    public static readonly TimeSpan PendingTimeout = TimeSpan.FromSeconds(6);
    public static readonly TimeSpan VerifyTimeout = TimeSpan.FromSeconds(8);
    public static readonly TimeSpan MissingGrace = TimeSpan.FromSeconds(1);
    public const int ProfileMaxAttempts = 2;

    public static readonly TimeSpan MdmRetryBackoff = TimeSpan.FromSeconds(1);
    public const int MdmMaxAttempts = 2;

    /// <summary>The first re-push of unanswered commands waits this long; each further one twice as long (shared setting).</summary>
    public static readonly TimeSpan RepushBackoff =
        TimeSpan.Parse(FleetTestCluster.DefaultSettings()["Fleet:Mdm:Push:RepushBackoff"]!, CultureInfo.InvariantCulture);

    private static readonly Dictionary<string, TimeSpan> s_mdmAckTimeouts = new(StringComparer.Ordinal)
    {
        ["macos14"] = TimeSpan.FromSeconds(6),
        ["macos15"] = TimeSpan.FromSeconds(5),
    };

    /// <summary>How long a macOS 14 or 15 Mac has to acknowledge a refetch's DeviceInformation, per attempt.</summary>
    public static TimeSpan MdmAckTimeout(string policy) => s_mdmAckTimeouts[policy];

    /// <summary>When the MDM part of a refetch requested at <paramref name="requestedAt"/> fails at the latest.</summary>
    public static DateTimeOffset FinalMdmDeadline(string policy, DateTimeOffset requestedAt) =>
        requestedAt + MdmAckTimeout(policy) + MdmAckTimeout(policy) + MdmRetryBackoff;

    private static Dictionary<string, string?> Settings()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Fleet:Mdm:Profiles:PendingTimeout"] = Text(PendingTimeout),
            ["Fleet:Mdm:Profiles:VerifyTimeout"] = Text(VerifyTimeout),
            ["Fleet:Mdm:Profiles:MissingGrace"] = Text(MissingGrace),
            ["Fleet:Mdm:Profiles:MaxAttempts"] = Text(ProfileMaxAttempts),
        };
        foreach (var (policy, timeout) in s_mdmAckTimeouts)
        {
            settings[$"Fleet:Refetch:Policies:{policy}:MdmAckTimeout"] = Text(timeout);
            settings[$"Fleet:Refetch:Policies:{policy}:MdmMaxAttempts"] = Text(MdmMaxAttempts);
            settings[$"Fleet:Refetch:Policies:{policy}:MdmRetryBackoff"] = Text(MdmRetryBackoff);
            settings[$"Fleet:Refetch:Policies:{policy}:MdmMaxRetryBackoff"] = Text(MdmRetryBackoff);
        }

        return settings;
    }

    private static string Text(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
