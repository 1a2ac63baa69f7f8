using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.AgentSimulator.Mdm;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Simulator;

/// <summary>
/// A development PKI folder shaped like the one tools/start writes, made in the test with fixed dates: a device CA
/// valid 2025–2035 (<c>device-ca.pem</c>, <c>device-ca.key</c>) and a TLS server certificate for 127.0.0.1
/// (<c>server.pem</c>, its key kept in <see cref="Server"/> for the test's Kestrel). Disposing deletes the folder.
/// </summary>
internal sealed class SimulatorPki : IDisposable
{
    public static readonly DateTimeOffset CaNotBefore = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static readonly DateTimeOffset CaNotAfter = new(2035, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private SimulatorPki(string folder, X509Certificate2 ca, X509Certificate2 server) => (Folder, Ca, Server) = (folder, ca, server);

    public string Folder { get; }

    /// <summary>The device CA's certificate.</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>The certificate in <c>server.pem</c>, with its key.</summary>
    public X509Certificate2 Server { get; }

    public static SimulatorPki Create()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Fleet.Orleans simulator test device CA", caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(CaNotBefore, CaNotAfter);
        var server = TestPki.ServerCertificate();

        var folder = Directory.CreateTempSubdirectory("fleet-simulator-pki-").FullName;
        File.WriteAllText(Path.Combine(folder, DevicePki.CaCertificateFile), ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(folder, DevicePki.CaKeyFile), caKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(folder, DevicePki.ServerCertificateFile), server.ExportCertificatePem());

        return new SimulatorPki(folder, X509CertificateLoader.LoadCertificate(ca.RawData), server);
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);

    public DevicePki Load(TimeProvider clock, bool serverCertificate = true)
    {
        Assert.True(DevicePki.TryLoad(Folder, serverCertificate, clock, out var pki, out var error), error);

        return pki;
    }
}
