using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Fleet.Api.Hosting;

internal static class KestrelHttps
{
    /// <summary>
    /// Every HTTPS endpoint asks for a client certificate and lets any through the handshake: Macs present
    /// their MDM identity there, and <see cref="Mdm.Identity.MdmAuthenticator"/> checks it, so that a bad one
    /// gets a 401 that says why instead of a failed handshake. Requests without one are still served.
    /// </summary>
    public static WebApplicationBuilder UseFleetHttpsDefaults(this WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https =>
        {
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.ClientCertificateValidation = (_, _, _) => true;
        }));

        return builder;
    }
}
