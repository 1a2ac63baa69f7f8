using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Identity;

/// <summary>
/// A cluster whose renewals move in seconds: a RenewIdentity command (and the presentation after its
/// acknowledgement) has 3 s, retries wait 0.5 s then 1 s, and a replaced certificate is accepted for 3 s more.
/// The renewal window keeps its 30-day default, so a certificate valid for a year is never renewed here.
/// </summary>
public sealed class IdentityClusterFixture() : ClusterFixture(Settings())
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan RetryBackoff = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan Overlap = TimeSpan.FromSeconds(3);

    public static Dictionary<string, string?> Settings() => new()
    {
        ["Fleet:Mdm:Identity:Renewal:Timeout"] = "00:00:03",
        ["Fleet:Mdm:Identity:Renewal:RetryBackoff"] = "00:00:00.500",
        ["Fleet:Mdm:Identity:Renewal:MaxRetryBackoff"] = "00:00:01",
        ["Fleet:Mdm:Identity:Renewal:Overlap"] = "00:00:03",
    };
}
