using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Fleet.AgentSimulator.Mdm;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Simulator;

public sealed class SimulatedIdentityTests : IDisposable
{
    private const string Udid = "00000001-0000-4000-8000-000000000003";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";
    private static readonly DateTimeOffset s_now = new(2026, 3, 2, 9, 30, 15, TimeSpan.Zero);
    private static readonly TimeSpan s_year = TimeSpan.FromDays(365);
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly MacFacts s_facts = new("15.1", "24B83", "SIM001000003", "sim-macos15-0003", "MacBook Pro", "MacBookPro11,4");

    private readonly FakeTimeProvider _clock = new(s_now);
    private readonly SimulatorPki _pki = SimulatorPki.Create();

    [Fact]
    public void Issue_GivesAP256ClientIdentityNamedForTheUdid_ThatChainsToTheDeviceCa()
    {
        var identity = _pki.Load(_clock).Issue(Udid, s_year);

        var certificate = identity.Certificate;
        Assert.Equal(($"CN={Udid}", _pki.Ca.Subject), (certificate.Subject, certificate.Issuer));
        Assert.Equal((s_now.AddMinutes(-5), s_now + s_year), Validity(certificate));
        Assert.Equal([ClientAuth], certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(oid => oid.Value));
        Assert.Equal(256, certificate.GetECDsaPublicKey()?.KeySize);
        Assert.True(certificate.HasPrivateKey, "the identity came without its key");
        Assert.Equal(Convert.ToHexString(SHA256.HashData(certificate.RawData)), identity.Thumbprint);
        Assert.True(Chains(certificate, s_now), $"{certificate.Subject} does not chain to {_pki.Ca.Subject} at {s_now:O}");
    }

    [Fact]
    public void Issue_GivesEveryIdentityItsOwnRandomPositiveSerial()
    {
        var pki = _pki.Load(_clock);

        var serials = Enumerable.Range(0, 3).Select(_ => pki.Issue(Udid, s_year).Certificate.SerialNumberBytes.ToArray()).ToList();

        Assert.Equal(3, serials.Select(Convert.ToHexString).Distinct().Count());
        Assert.All(serials, serial => Assert.Equal((16, true), (serial.Length, serial[0] is >= 0x40 and < 0x80)));
    }

    [Fact]
    public void Issue_NeverOutlivesTheDeviceCa()
    {
        var identity = _pki.Load(_clock).Issue(Udid, TimeSpan.FromDays(3650));

        Assert.Equal((s_now.AddMinutes(-5), SimulatorPki.CaNotAfter), Validity(identity.Certificate));
    }

    [Fact]
    public void IssueExpired_EndedADayAgo_AndChainsAtItsLastSecond()
    {
        var identity = _pki.Load(_clock).IssueExpired(Udid, s_year);

        var certificate = identity.Certificate;
        Assert.Equal((s_now.AddDays(-1) - s_year, s_now.AddDays(-1)), Validity(certificate));
        Assert.False(Chains(certificate, s_now), "an expired identity chained at now");
        Assert.True(Chains(certificate, s_now.AddDays(-1).AddSeconds(-1)), "the expired identity did not chain before its end");
    }

    [Fact]
    public void TryLoad_WithoutThePki_NamesTheMissingFilesAndWhoCreatesThem()
    {
        var empty = Path.Combine(_pki.Folder, "empty");
        Directory.CreateDirectory(empty);

        var loaded = DevicePki.TryLoad(empty, serverCertificate: true, _clock, out var pki, out var error);

        Assert.False(loaded, "an empty folder loaded as a PKI");
        Assert.Null(pki);
        Assert.Equal(
            $"no development PKI in {empty}: device-ca.pem, device-ca.key, server.pem missing. tools/start creates them " +
            "on its first run; or give --pki DIR with the folder that holds them",
            error);
    }

    [Fact]
    public void TryLoad_ForMdmSignature_DoesNotNeedTheServerCertificate()
    {
        File.Delete(Path.Combine(_pki.Folder, DevicePki.ServerCertificateFile));

        var withTls = DevicePki.TryLoad(_pki.Folder, serverCertificate: true, _clock, out _, out var error);
        var signed = DevicePki.TryLoad(_pki.Folder, serverCertificate: false, _clock, out var pki, out _);

        Assert.False(withTls, "the PKI loaded for TLS without server.pem");
        Assert.EndsWith(": server.pem missing. tools/start creates them on its first run; or give --pki DIR with the folder that holds them", error, StringComparison.Ordinal);
        Assert.True(signed, "the PKI did not load for Mdm-Signature without server.pem");
        Assert.Null(Assert.IsType<DevicePki>(pki).ServerCertificate);
    }

    [Fact]
    public async Task SignedTransport_SignsTheExactBodyWithTheIdentity_AndAChangedBodyFailsTheCheck()
    {
        var mac = NewMac(MdmBehaviour.Normal, _pki.Load(_clock).Issue(Udid, s_year));
        await using var server = await LoopbackMdmServer.StartAsync(null, _ => (HttpStatusCode.OK, ""));
        using var http = new HttpClient();
        using var transport = new SignedMdmTransport(http, server.Url);

        await new MdmClient(transport).EnrollAsync(mac, TestContext.Current.CancellationToken);

        var authenticate = server.Requests[0];
        Assert.Equal(["/mdm/checkin", "/mdm/checkin"], server.Requests.Select(request => request.Path));
        Assert.Equal(mac.AuthenticateMessage(), Encoding.UTF8.GetString(authenticate.Body));
        var cms = Decode(authenticate.Signature, authenticate.Body);
        cms.CheckSignature(verifySignatureOnly: true);
        Assert.Equal(mac.Identity!.Certificate.RawData, Assert.Single(cms.Certificates).RawData);
        Assert.Equal(mac.Identity.Certificate.RawData, cms.SignerInfos[0].Certificate?.RawData);
        var tampered = authenticate.Body.ToArray();
        tampered[^10] ^= 0x20;
        Assert.Throws<CryptographicException>(() => Decode(authenticate.Signature, tampered).CheckSignature(verifySignatureOnly: true));
    }

    [Fact]
    public async Task TlsTransport_PresentsTheIdentityAsClientCertificate_ToTheServerOfServerPem()
    {
        var pki = _pki.Load(_clock);
        var mac = NewMac(MdmBehaviour.Normal, pki.Issue(Udid, s_year));
        await using var server = await LoopbackMdmServer.StartAsync(_pki.Server, _ => (HttpStatusCode.OK, ""));
        using var transport = new TlsMdmTransport(server.Url, pki.ServerCertificate!, s_timeout);

        await new MdmClient(transport).EnrollAsync(mac, TestContext.Current.CancellationToken);

        Assert.Equal(
            [("/mdm/checkin", mac.Identity!.Thumbprint), ("/mdm/checkin", mac.Identity.Thumbprint)],
            server.Requests.Select(request => (request.Path, Thumbprint(request.ClientCertificate))));
    }

    [Fact]
    public async Task TlsTransport_RefusesAServerWithAnyOtherCertificate()
    {
        var pki = _pki.Load(_clock);
        var mac = NewMac(MdmBehaviour.Normal, pki.Issue(Udid, s_year));
        using var impostor = TestPki.ServerCertificate();
        await using var server = await LoopbackMdmServer.StartAsync(impostor, _ => (HttpStatusCode.OK, ""));
        using var transport = new TlsMdmTransport(server.Url, pki.ServerCertificate!, s_timeout);

        var refused = await Assert.ThrowsAsync<HttpRequestException>(
            () => new MdmClient(transport).EnrollAsync(mac, TestContext.Current.CancellationToken));

        Assert.StartsWith("mdm/checkin: ", refused.Message, StringComparison.Ordinal);
        Assert.IsType<AuthenticationException>(refused.InnerException?.InnerException);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Renewal_IsAcknowledgedWithTheOldIdentity_AndTheNextRequestPresentsTheNewOne()
    {
        var pki = _pki.Load(_clock);
        var mac = NewMac(MdmBehaviour.Normal, pki.Issue(Udid, s_year));
        var (old, renewed) = (mac.Identity!, pki.Issue(Udid, s_year));
        var command = RenewalCommand("5e1f6a8c-0000-4000-8000-000000000001", renewed.Certificate, "s3cret");
        await using var server = await LoopbackMdmServer.StartAsync(
            _pki.Server, request => (HttpStatusCode.OK, request.Body.Length > 0 && IsIdle(request) && mac.Sessions == 1 ? command : ""));
        using var transport = new TlsMdmTransport(server.Url, pki.ServerCertificate!, s_timeout);
        var client = new MdmClient(transport);

        await client.RunSessionAsync(mac, TestContext.Current.CancellationToken);
        await client.RunSessionAsync(mac, TestContext.Current.CancellationToken);

        Assert.Equal(
            [("Idle", old.Thumbprint), ("Acknowledged", old.Thumbprint), ("Idle", renewed.Thumbprint)],
            server.Requests.Select(request => ((string)Plist.Read(Encoding.UTF8.GetString(request.Body))["Status"], Thumbprint(request.ClientCertificate))));
        Assert.Equal((renewed.Thumbprint, 1L), (mac.Identity!.Thumbprint, mac.IdentitiesInstalled));
        Assert.Contains(mac.Profiles, profile => (profile.Identifier, profile.DisplayName) == (MacDevice.IdentityProfileIdentifier, "Device identity"));
    }

    [Fact]
    public void Renewal_WithAWrongPassword_IsAnsweredErrorAndKeepsTheIdentity()
    {
        var pki = _pki.Load(_clock);
        var mac = NewMac(MdmBehaviour.Normal, pki.Issue(Udid, s_year));
        var old = mac.Identity;

        var answer = mac.Answer(RenewalCommand("5e1f6a8c-0000-4000-8000-000000000001", pki.Issue(Udid, s_year).Certificate, "s3cret", "wrong"));
        mac.ReportSent();

        var report = Plist.Read(answer.Report!);
        var error = Assert.IsType<Dictionary<string, object>>(Assert.Single((List<object>)report["ErrorChain"]));
        Assert.Equal(("Error", 4001L, "MCProfileErrorDomain"), (report["Status"], error["ErrorCode"], error["ErrorDomain"]));
        Assert.StartsWith("The identity in the profile “Device identity” could not be read: ", (string)error["LocalizedDescription"], StringComparison.Ordinal);
        Assert.Same(old, mac.Identity);
        Assert.Equal(0, mac.IdentitiesInstalled);
    }

    [Fact]
    public void RenewalNotNowMac_AnswersEachRenewalNotNowItsTimes_ThenInstallsIt_AndOtherCommandsAsUsual()
    {
        var pki = _pki.Load(_clock);
        var mac = NewMac(MdmBehaviour.RenewalNotNow(2), pki.Issue(Udid, s_year));
        var (first, second) = (pki.Issue(Udid, s_year), pki.Issue(Udid, s_year));

        var statuses = new[]
        {
            mac.Answer(RenewalCommand("aaaaaaaa-0000-4000-8000-000000000001", first.Certificate, "one")).Status,
            mac.Answer(DeviceInformation("bbbbbbbb-0000-4000-8000-000000000001")).Status,
            mac.Answer(RenewalCommand("aaaaaaaa-0000-4000-8000-000000000002", first.Certificate, "one")).Status,
            mac.Answer(RenewalCommand("aaaaaaaa-0000-4000-8000-000000000003", first.Certificate, "one")).Status,
            mac.Answer(RenewalCommand("aaaaaaaa-0000-4000-8000-000000000004", second.Certificate, "two")).Status,
        };
        mac.ReportSent();

        Assert.Equal(["NotNow", "Acknowledged", "NotNow", "Acknowledged", "NotNow"], statuses);
        Assert.Equal((first.Thumbprint, 1L), (mac.Identity!.Thumbprint, mac.IdentitiesInstalled));
    }

    [Fact]
    public void RenewalIgnoreMac_SendsNoReportForARenewal_AndKeepsItsIdentity()
    {
        var pki = _pki.Load(_clock);
        var mac = NewMac(MdmBehaviour.RenewalIgnore, pki.Issue(Udid, s_year));
        var old = mac.Identity;

        var renewal = mac.Answer(RenewalCommand("aaaaaaaa-0000-4000-8000-000000000001", pki.Issue(Udid, s_year).Certificate, "one"));
        var information = mac.Answer(DeviceInformation("bbbbbbbb-0000-4000-8000-000000000001"));
        mac.EndSession();

        Assert.Equal(new MdmAnswer(null, "ignored"), renewal);
        Assert.Equal("Acknowledged", information.Status);
        Assert.Same(old, mac.Identity);
        Assert.Equal(1, mac.Answers["ignored"]);
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "401 Unauthorized", 1, 0)]
    [InlineData(HttpStatusCode.Forbidden, "403 Forbidden", 0, 1)]
    public async Task Refusal_IsCountedAsAnIdentityRefusal_AndQuotesTheProblemDetail(HttpStatusCode status, string shown, long unauthorized, long forbidden)
    {
        var mac = NewMac(MdmBehaviour.Normal, _pki.Load(_clock).Issue(Udid, s_year));
        const string Problem = """{"title":"Identity refused","status":401,"detail":"the certificate does not chain to a configured device CA"}""";
        await using var server = await LoopbackMdmServer.StartAsync(null, _ => (status, Problem));
        using var http = new HttpClient();
        using var transport = new SignedMdmTransport(http, server.Url);
        var client = new MdmClient(transport);

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.EnrollAsync(mac, TestContext.Current.CancellationToken));

        Assert.Equal($"mdm/checkin: identity refused, {shown}: the certificate does not chain to a configured device CA", refused.Message);
        Assert.Equal((status, unauthorized, forbidden), (refused.StatusCode, client.Unauthorized, client.Forbidden));
    }

    public void Dispose() => _pki.Dispose();

    private MacDevice NewMac(MdmBehaviour behaviour, DeviceIdentity identity) => new(Udid, s_facts, behaviour, _clock, identity);

    private bool Chains(X509Certificate2 certificate, DateTimeOffset at)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_pki.Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuth));

        return chain.Build(certificate);
    }

    private static (DateTimeOffset NotBefore, DateTimeOffset NotAfter) Validity(X509Certificate2 certificate) =>
        (new DateTimeOffset(certificate.NotBefore.ToUniversalTime()), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));

    private static string? Thumbprint(X509Certificate2? certificate) =>
        certificate is null ? null : Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256));

    private static SignedCms Decode(string? signature, byte[] body)
    {
        var cms = new SignedCms(new ContentInfo(body), detached: true);
        cms.Decode(Convert.FromBase64String(signature ?? throw new InvalidOperationException("the request carried no Mdm-Signature")));

        return cms;
    }

    private static bool IsIdle(ReceivedRequest request) =>
        Plist.Read(Encoding.UTF8.GetString(request.Body)).GetValueOrDefault("Status") as string == "Idle";

    private static string DeviceInformation(string uuid) => Plist.Write(new()
    {
        ["CommandUUID"] = uuid,
        ["Command"] = new Dictionary<string, object> { ["RequestType"] = "DeviceInformation" },
    });

    // The identity renewal the way the Api renders it: InstallProfile of a profile with one PKCS#12 payload.
    private static string RenewalCommand(string uuid, X509Certificate2 identity, string password, string? toldPassword = null)
    {
        var profile = Plist.Write(new()
        {
            ["PayloadContent"] = new List<object>
            {
                new Dictionary<string, object>
                {
                    ["Password"] = toldPassword ?? password,
                    ["PayloadContent"] = identity.ExportPkcs12(Pkcs12ExportPbeParameters.Pbes2Aes256Sha256, password),
                    ["PayloadIdentifier"] = "com.fleet-orleans.mdm.identity.pkcs12",
                    ["PayloadType"] = "com.apple.security.pkcs12",
                    ["PayloadUUID"] = "0F6C2D55-6B3C-4C9E-9D0C-3B7E8A9F1A21",
                    ["PayloadVersion"] = 1L,
                },
            },
            ["PayloadDisplayName"] = "Device identity",
            ["PayloadIdentifier"] = "com.fleet-orleans.mdm.identity",
            ["PayloadType"] = "Configuration",
            ["PayloadUUID"] = "7A0E6B1D-2C4F-4E8A-B5D3-9F1C2E3A4B5C",
            ["PayloadVersion"] = 1L,
        });

        return Plist.Write(new()
        {
            ["CommandUUID"] = uuid,
            ["Command"] = new Dictionary<string, object>
            {
                ["Payload"] = Encoding.UTF8.GetBytes(profile),
                ["RequestType"] = "InstallProfile",
            },
        });
    }
}
