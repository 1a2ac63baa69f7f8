using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.Tests.Infrastructure;
using Fleet.Tests.Mdm;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using static Fleet.Tests.Api.ApiTestKit;
using static Fleet.Tests.Identity.ApiIdentityKit;

namespace Fleet.Tests.Identity;

/// <summary>
/// The Api on a real Kestrel HTTPS port on 127.0.0.1, configured as <c>tools/start</c> configures it
/// (a <c>Kestrel:Endpoints:Https</c> endpoint with a PEM certificate and key): Macs present their identity
/// as a TLS client certificate, and a bad one gets a 401 that says why rather than a failed handshake.
/// </summary>
public sealed class ApiTlsTests(ApiTlsFixture tls, ClusterFixture cluster) : IClassFixture<ApiTlsFixture>
{
    private CapturedLogs Logs => tls.Logs;

    [Fact]
    public async Task CheckIn_WithAValidClientCertificate_IsAccepted()
    {
        var udid = NewUdid();
        using var device = Device(MdmSigning.IdentityFor(udid));
        using var operators = cluster.OperatorClient(ApiFactory.ObserverToken);

        await EnrollAsync(device, udid, identity: null);

        var host = await operators.GetHostAsync(udid);
        Assert.True(host["mdm"]?["enrolled"]?.GetValue<bool>() == true, $"host {udid} over TLS: mdm {Show(host["mdm"])}");
    }

    [Fact]
    public async Task CheckIn_WithTheSameCertificateOverTlsAndInTheHeader_IsAccepted()
    {
        var udid = NewUdid();
        var identity = MdmSigning.IdentityFor(udid);
        using var device = Device(identity);

        using var response = await CheckInAsync(device, Authenticate(udid), identity);

        await ExpectStatusAsync(response, HttpStatusCode.OK, $"Authenticate of {udid} over TLS and Mdm-Signature");
    }

    [Fact]
    public async Task CheckIn_WithAClientCertificateFromAnotherCa_Is401NotAFailedHandshake()
    {
        var udid = NewUdid();
        using var device = Device(TestPki.OtherCa.Issue(udid, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));
        var before = Refusals(Logs).Count;

        using var response = await CheckInAsync(device, Authenticate(udid), identity: null);

        await ExpectRefusedAsync(
            response, HttpStatusCode.Unauthorized, "does not chain to a configured device CA (issuer 'CN=Some other device CA')", Logs, before, udid, $"TLS Authenticate of {udid} from another CA");
    }

    [Fact]
    public async Task CheckIn_WhoseHeaderSignerIsNotTheTlsCertificate_Is401()
    {
        var udid = NewUdid();
        using var device = Device(MdmSigning.IdentityFor(udid));
        var before = Refusals(Logs).Count;

        using var response = await CheckInAsync(device, Authenticate(udid), TestPki.Identity(udid));

        await ExpectRefusedAsync(response, HttpStatusCode.Unauthorized, "is not the Mdm-Signature signer", Logs, before, udid, $"Authenticate of {udid} with two certificates");
    }

    [Fact]
    public async Task CheckIn_OverTlsWithoutAnyCertificate_Is401()
    {
        var udid = NewUdid();
        using var device = Device(clientCertificate: null);
        var before = Refusals(Logs).Count;

        using var response = await CheckInAsync(device, Authenticate(udid), identity: null);

        await ExpectRefusedAsync(response, HttpStatusCode.Unauthorized, "it presents no identity certificate", Logs, before, udid, $"TLS Authenticate of {udid} without a certificate");
    }

    private HttpClient Device(X509Certificate2? clientCertificate) => tls.Device(clientCertificate);
}

/// <summary>One Api on a real HTTPS port for <see cref="ApiTlsTests"/>, with its log lines.</summary>
public sealed class ApiTlsFixture(ClusterFixture cluster) : IAsyncLifetime
{
    private readonly X509Certificate2 _serverCertificate = TestPki.ServerCertificate();
    private readonly string _folder = Directory.CreateTempSubdirectory("fleet-test-tls-").FullName;
    private WebApplicationFactory<Program> _api = null!;
    private Uri _https = null!;

    public CapturedLogs Logs { get; } = new();

    public ValueTask InitializeAsync()
    {
        var folder = _folder;
        File.WriteAllText(Path.Combine(folder, "server.pem"), _serverCertificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(folder, "server.key"), _serverCertificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        _api = cluster.Api.WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Kestrel:Endpoints:Https:Url", "https://127.0.0.1:0");
            builder.UseSetting("Kestrel:Endpoints:Https:Certificate:Path", Path.Combine(folder, "server.pem"));
            builder.UseSetting("Kestrel:Endpoints:Https:Certificate:KeyPath", Path.Combine(folder, "server.key"));
            builder.ConfigureLogging(logging =>
            {
                logging.AddProvider(Logs);
                logging.AddFilter<CapturedLogs>("Fleet.Api", LogLevel.Debug);
            });
        });
        _api.UseKestrel();
        _api.StartServer();
        var addresses = _api.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        _https = new Uri(addresses.Single(a => a.StartsWith("https://127.0.0.1:", StringComparison.Ordinal)));

        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _api.DisposeAsync();
        _serverCertificate.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>An HTTPS client that trusts only this test's server certificate and presents <paramref name="clientCertificate"/>.</summary>
    public HttpClient Device(X509Certificate2? clientCertificate) => Device(() => clientCertificate, reuseConnections: true);

    /// <summary>
    /// An HTTPS client that trusts only this test's server certificate and presents whatever <paramref name="clientCertificate"/>
    /// answers at each handshake. Without <paramref name="reuseConnections"/> every request makes a new connection, so a
    /// device that changed its identity presents the new one on its next request.
    /// </summary>
    public HttpClient Device(Func<X509Certificate2?> clientCertificate, bool reuseConnections)
    {
        var expected = _serverCertificate.GetCertHash(HashAlgorithmName.SHA256);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                    presented is not null && presented.GetCertHash(HashAlgorithmName.SHA256).AsSpan().SequenceEqual(expected),
                LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate()!,
            },
        };
        if (!reuseConnections)
        {
            handler.PooledConnectionLifetime = TimeSpan.Zero;
        }

        return new HttpClient(handler) { BaseAddress = _https };
    }
}
