using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.Api.Mdm;
using Fleet.Api.Mdm.Identity;
using Fleet.Api.Mdm.Plist;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Identity;

/// <summary>How the RenewIdentity command reaches a Mac: an InstallProfile whose profile carries the PKCS#12.</summary>
public sealed class ApiIdentityRenderingTests
{
    private const string Uuid = "7B8E3C1A-2D44-4F0B-9A51-0C6E2F9D1B77";
    private const string Password = "renewal-password-0123";

    [Fact]
    public void RenewIdentity_RendersAnInstallProfileWithAPkcs12ThatOpensWithItsPassword()
    {
        using var identity = TestPki.Identity("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0");
        var issued = new IssuedIdentity(identity.Export(X509ContentType.Pkcs12, Password), Password, DeviceCertificate.Of(identity, IdentityPresentation.MdmSignature));

        var command = RoundTrip(MdmCommandPlists.Render(new MdmCommand(Uuid, MdmCommandKind.RenewIdentity) { Identity = issued }));

        Assert.Equal(Uuid, command.GetString("CommandUUID"));
        var body = command.GetDict("Command")!;
        Assert.Equal(["RequestType", "Payload"], body.Entries.Select(e => e.Key));
        Assert.Equal("InstallProfile", body.GetString("RequestType"));
        var profile = RoundTrip(Assert.IsType<PlistData>(body["Payload"]).Value.ToArray());
        Assert.Equal("com.fleet-orleans.mdm.identity", profile.GetString("PayloadIdentifier"));
        Assert.Equal("Device identity", profile.GetString("PayloadDisplayName"));
        Assert.Equal("Configuration", profile.GetString("PayloadType"));
        Assert.Equal(1, Assert.IsType<PlistInteger>(profile["PayloadVersion"]).Value);
        Assert.True(Guid.TryParse(profile.GetString("PayloadUUID"), out _), $"profile PayloadUUID {profile.GetString("PayloadUUID")}");

        var payload = Assert.IsType<PlistDict>(Assert.Single(Assert.IsType<PlistArray>(profile["PayloadContent"]).Items));
        Assert.Equal("com.apple.security.pkcs12", payload.GetString("PayloadType"));
        Assert.Equal("com.fleet-orleans.mdm.identity.pkcs12", payload.GetString("PayloadIdentifier"));
        Assert.Equal(1, Assert.IsType<PlistInteger>(payload["PayloadVersion"]).Value);
        Assert.True(Guid.TryParse(payload.GetString("PayloadUUID"), out _), $"pkcs12 PayloadUUID {payload.GetString("PayloadUUID")}");
        Assert.NotEqual(profile.GetString("PayloadUUID"), payload.GetString("PayloadUUID"));
        Assert.Equal(Password, payload.GetString("Password"));

        using var installed = X509CertificateLoader.LoadPkcs12(Assert.IsType<PlistData>(payload["PayloadContent"]).Value.ToArray(), payload.GetString("Password"));
        Assert.True(installed.HasPrivateKey, "the PKCS#12 holds no key");
        Assert.Equal(issued.Certificate.Thumbprint, Convert.ToHexString(installed.GetCertHash(HashAlgorithmName.SHA256)));
    }

    [Fact]
    public void RenewIdentity_RendersTheSameBytesEachTimeItIsOffered()
    {
        using var identity = TestPki.Identity("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0");
        var command = new MdmCommand(Uuid, MdmCommandKind.RenewIdentity)
        {
            Identity = new IssuedIdentity(identity.Export(X509ContentType.Pkcs12, Password), Password, DeviceCertificate.Of(identity, IdentityPresentation.MdmSignature)),
        };

        Assert.Equal(PlistWriter.Write(MdmCommandPlists.Render(command)), PlistWriter.Write(MdmCommandPlists.Render(command)));
    }

    [Fact]
    public void RenewIdentity_WithoutAnIssuedIdentity_IsAProgrammerError()
    {
        var error = Assert.Throws<ArgumentException>(() => MdmCommandPlists.Render(new MdmCommand(Uuid, MdmCommandKind.RenewIdentity)));

        Assert.StartsWith($"Command {Uuid} (RenewIdentity) carries no issued identity.", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(IdentityPresentation.Tls)]
    [InlineData(IdentityPresentation.MdmSignature)]
    public void Facts_AreWhatTheHostIsToldAboutACertificate(IdentityPresentation presentation)
    {
        using var identity = TestPki.Identity("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0");

        var facts = new PresentedCertificate(identity, presentation, []).Facts;

        Assert.Equal(
            new DeviceCertificate(
                Convert.ToHexString(SHA256.HashData(identity.RawData)),
                "CN=0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0, O=Fleet.Orleans tests",
                identity.SerialNumber,
                TestPki.DeviceCa.Certificate.Subject,
                new DateTimeOffset(identity.NotBefore.ToUniversalTime()),
                new DateTimeOffset(identity.NotAfter.ToUniversalTime()),
                presentation),
            facts);
        Assert.Equal(64, facts.Thumbprint.Length);
    }

    private static PlistDict RoundTrip(PlistDict dict) => RoundTrip(PlistWriter.Write(dict));

    private static PlistDict RoundTrip(byte[] plist) => Assert.IsType<PlistDict>(PlistReader.Read(plist, new PlistLimits(MdmApi.MaxReportBytes)));
}
