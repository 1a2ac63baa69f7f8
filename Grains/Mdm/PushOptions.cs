namespace Fleet.Grains.Mdm;

/// <summary>How the service wakes devices over MDM. Bound from <c>Fleet:Mdm:Push</c>.</summary>
public sealed class PushOptions
{
    public const string SectionName = "Fleet:Mdm:Push";

    /// <summary>The APNs-shaped push gateway; the shipped one is the simulator's loopback gateway.</summary>
    public Uri GatewayUrl { get; set; } = new("http://127.0.0.1:2197");

    /// <summary>The longest one push may take before it counts as unreachable.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>When the push certificate expires; from then on every push fails without a request.</summary>
    public DateTimeOffset? CertificateNotAfter { get; set; }

    /// <summary>Wait before the first re-push of commands still unanswered; doubles with each re-push.</summary>
    public TimeSpan RepushBackoff { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The most <see cref="RepushBackoff"/> can grow to.</summary>
    public TimeSpan MaxRepushBackoff { get; set; } = TimeSpan.FromMinutes(15);
}
