using System.Net;
using Fleet.Api.Mdm.Identity;
using Fleet.Tests.Infrastructure;
using Fleet.Tests.Mdm;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Options;
using static Fleet.Tests.Identity.ApiIdentityKit;

namespace Fleet.Tests.Identity;

/// <summary><c>Fleet:Mdm:Identity:TrustedCaFiles</c>: checked at start with messages that say what to fix, and what happens with none.</summary>
public sealed class ApiDeviceCaOptionsTests(ClusterFixture cluster) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fleet-test-cas-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Validate_TheTestDeviceCa_Succeeds()
    {
        var options = new DeviceCaOptions { TrustedCaFiles = [TestPki.CaCertificateFile] };

        Assert.True(new DeviceCaOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal(TestPki.DeviceCa.Certificate.Thumbprint, Assert.Single(new TrustedDeviceCas(Options.Create(options)).Certificates).Thumbprint);
    }

    [Fact]
    public void Validate_NamesEachBadFileByItsKeyAndSaysWhy()
    {
        var missing = Path.Combine(_folder, "missing.pem");
        var garbage = Write("garbage.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
        var empty = Write("empty.pem", "no PEM here\n");
        using var leaf = TestPki.Identity("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0");
        var device = Write("device.pem", leaf.ExportCertificatePem());
        var options = new DeviceCaOptions { TrustedCaFiles = [TestPki.CaCertificateFile, missing, garbage, empty, device, " "] };

        var result = new DeviceCaOptionsValidator().Validate(null, options);

        Assert.Equal(
        [
            $"Fleet:Mdm:Identity:TrustedCaFiles:1 names '{missing}', which does not exist.",
            $"Fleet:Mdm:Identity:TrustedCaFiles:2 names '{garbage}', which cannot be read as PEM certificates",
            $"Fleet:Mdm:Identity:TrustedCaFiles:3 names '{empty}', which holds no PEM certificate.",
            $"Fleet:Mdm:Identity:TrustedCaFiles:4 names '{device}', whose certificate '{leaf.Subject}' is not a CA (it lacks basicConstraints CA:TRUE).",
            "Fleet:Mdm:Identity:TrustedCaFiles:5 is empty; name a PEM file of CA certificates.",
        ], result.Failures!.Select(f => f.StartsWith($"Fleet:Mdm:Identity:TrustedCaFiles:2 names '{garbage}'", StringComparison.Ordinal)
            ? f[..f.IndexOf(" (", StringComparison.Ordinal)] : f));
    }

    [Fact]
    public async Task Start_WithABadCaFile_FailsNamingTheKey()
    {
        var missing = Path.Combine(_folder, "missing.pem");
        await using var api = new ApiFactory(cluster.Cluster, trustDeviceCa: false)
            .WithWebHostBuilder(builder => builder.UseSetting("Fleet:Mdm:Identity:TrustedCaFiles:0", missing));

        var error = Assert.Throws<OptionsValidationException>(() => api.Server);

        Assert.Equal($"Fleet:Mdm:Identity:TrustedCaFiles:0 names '{missing}', which does not exist.", Assert.Single(error.Failures));
    }

    [Fact]
    public async Task Api_WithoutADeviceCa_WarnsAtStartAndRefusesEveryMdmRequest()
    {
        var logs = new CapturedLogs();
        await using var api = new ApiFactory(cluster.Cluster, trustDeviceCa: false).WithWebHostBuilder(builder => builder.ConfigureLogging(logging =>
        {
            logging.AddProvider(logs);
            logging.AddFilter<CapturedLogs>("Fleet.Api", LogLevel.Debug);
        }));
        using var device = api.CreateClient();
        var udid = NewUdid();

        using var response = await CheckInAsync(device, Authenticate(udid), MdmSigning.IdentityFor(udid));

        var warning = Assert.Single(logs.Lines, l => l.EventId == 520);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("No device CA is configured (Fleet:Mdm:Identity:TrustedCaFiles): every MDM request will be refused with 401", warning.Message);
        await ExpectRefusedAsync(response, HttpStatusCode.Unauthorized, "no device CA is configured", logs, 0, udid, $"Authenticate of {udid} without a device CA");
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);

        return path;
    }
}
