using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Identity;

/// <summary>
/// A cluster whose issuing CA ends in two days, inside the 30-day renewal window: every identity it could
/// issue would be due for renewal at once. The renewal must wait its backoff with the reason, not loop on
/// every connection.
/// </summary>
public sealed class ShortLivedIssuerTests(ShortLivedIssuerTests.Fixture fixture) : IClassFixture<ShortLivedIssuerTests.Fixture>
{
    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_mac14 = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "14.1.2" },
    };

    [Fact]
    public async Task Renewal_FromACaEndingInsideTheWindow_SendsNothing_AndWaitsItsBackoffWithTheReason()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var host = fixture.Grains.GetGrain<IHostGrain>(hostId);
        await host.EnrollAsync(new EnrollRequest(s_mac14));
        var device = new TestMdmDevice(() => host, hostId, TestMdmDevice.Mac("14.1.2"));
        device.Present(TestPki.Identity(hostId, notAfter: DateTimeOffset.UtcNow.AddDays(10)));
        await device.EnrollAsync();
        var queued = (await host.GetAsync())!.Identity!.Renewal!;

        var offered = await device.IdleAsync();
        var view = (await host.GetAsync())!;
        var again = await device.IdleAsync();

        Assert.Equal(RenewalStatus.Queued, queued.Status);
        Assert.Null(offered.Next);
        Assert.Null(again.Next);
        Assert.Equal(RenewalStatus.WaitingRetry, view.Identity!.Renewal!.Status);
        Assert.Equal(ReasonCodes.IdentityIssueFailed, view.Identity.Renewal.LastFailure!.Code);
        Assert.Contains("inside the 30.00:00:00 renewal window", view.Identity.Renewal.LastFailure.Message, StringComparison.Ordinal);
        Assert.Equal(0, view.Mdm!.QueuedCommands);
        Assert.Equal(["recorded", "renewal_queued", "retry_scheduled"], view.Identity.History.Select(e => e.Step));
    }

    /// <summary>The test cluster with an issuer whose CA ends in two days.</summary>
    public sealed class Fixture() : ClusterFixture(Settings())
    {
        private static Dictionary<string, string?> Settings()
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=A CA that ends soon", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddDays(2));
            var folder = Directory.CreateTempSubdirectory("fleet-short-ca-").FullName;
            File.WriteAllText(Path.Combine(folder, "ca.pem"), ca.ExportCertificatePem());
            File.WriteAllText(Path.Combine(folder, "ca.key"), key.ExportPkcs8PrivateKeyPem());

            return new()
            {
                ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = Path.Combine(folder, "ca.pem"),
                ["Fleet:Mdm:Identity:Issuer:KeyFile"] = Path.Combine(folder, "ca.key"),
            };
        }
    }
}
