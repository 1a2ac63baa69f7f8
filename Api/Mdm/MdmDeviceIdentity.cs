using System.Diagnostics.CodeAnalysis;
using Fleet.Api.Mdm.Plist;
using Fleet.Contracts;

namespace Fleet.Api.Mdm;

/// <summary>
/// Reads which host an MDM request claims to speak for: the <c>UDID</c> of the message. The claim is
/// proven by the identity certificate (<see cref="Identity.MdmAuthenticator"/>) and the host's record of it.
/// </summary>
internal static class MdmDeviceIdentity
{
    /// <summary>The longest claimed UDID echoed in logs and errors.</summary>
    private const int MaxShownLength = 80;

    /// <summary>
    /// The canonical host id of the device, or false. <paramref name="claimed"/> is what the message said,
    /// shortened for logs, or null when it named no UDID.
    /// </summary>
    public static bool TryResolve(HttpContext context, PlistDict message, [NotNullWhen(true)] out string? hostId, out string? claimed)
    {
        var udid = message.GetString("UDID");
        claimed = udid is null ? null : Shown(udid);

        return HostIds.TryNormalize(udid, out hostId);
    }

    private static string Shown(string udid)
    {
        var visible = new string([.. udid.Take(MaxShownLength).Select(c => char.IsControl(c) ? '?' : c)]);

        return udid.Length > MaxShownLength ? visible + "…" : visible;
    }
}
