using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.Tests.Infrastructure;
using Fleet.Tests.Mdm;
using static Fleet.Tests.Api.ApiTestKit;
using static Fleet.Tests.Identity.ApiIdentityKit;

namespace Fleet.Tests.Identity;

/// <summary>
/// The Api's own decisions about MDM identity certificates presented through <c>Mdm-Signature</c>: which are
/// accepted, which get 401 or 403, what the Warning says, and that a refused request changes no host.
/// </summary>
public sealed class ApiAuthenticationTests(MdmApiFixture fixture) : IClassFixture<MdmApiFixture>
{
    [Fact]
    public async Task SignedCheckIn_WithAValidIdentity_EnrollsTheHost()
    {
        using var device = fixture.DeviceClient();
        using var operators = fixture.OperatorClient(ApiFactory.ObserverToken);
        var udid = NewUdid();

        await EnrollAsync(device, udid, MdmSigning.IdentityFor(udid));

        var host = await operators.GetHostAsync(udid);
        Assert.True(host["mdm"]?["enrolled"]?.GetValue<bool>() == true, $"host {udid}: mdm {Show(host["mdm"])}");
        Assert.DoesNotContain(Refusals(fixture.Logs), l => l.Message.Contains(udid, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SignedReport_WithATamperedBody_Is401AndChangesNothing()
    {
        using var device = fixture.DeviceClient();
        using var operators = fixture.OperatorClient(ApiFactory.ObserverToken);
        var udid = NewUdid();
        var identity = MdmSigning.IdentityFor(udid);
        await EnrollAsync(device, udid, identity);
        var revision = await RevisionAsync(operators, udid);
        var before = Refusals(fixture.Logs).Count;

        // The signature is over the Authenticate a device sent; the body on the wire says TokenUpdate.
        var content = MdmSigning.Content(TokenUpdate(udid), Fleet.Api.Mdm.MdmApi.CheckInContentType, identity: null);
        content.Headers.Add(MdmSigning.SignatureHeader, TestPki.Sign(Authenticate(udid), identity));
        using var response = await device.PutAsync("/mdm/checkin", content, TestAborted);

        await ExpectRefusedAsync(response, HttpStatusCode.Unauthorized, "does not verify over the body", fixture.Logs, before, udid, $"tampered TokenUpdate of {udid}");
        Assert.Equal(revision, await RevisionAsync(operators, udid));
    }

    public static TheoryData<string, string> Untrusted => new()
    {
        { "other CA", "does not chain to a configured device CA (issuer 'CN=Some other device CA')" },
        { "self-signed", "does not chain to a configured device CA (issuer 'CN=" },
        { "truncated header", "its Mdm-Signature header is not a CMS signature" },
        { "garbage header", "its Mdm-Signature header is not base64" },
        { "not yet valid", "is not valid before " },
        { "server certificate", "is not for client authentication (extended key usage)" },
        { "no certificate", "it presents no identity certificate (neither a TLS client certificate nor an Mdm-Signature header)" },
    };

    [Theory]
    [MemberData(nameof(Untrusted))]
    public async Task Report_WithAnUntrustedCertificate_Is401WithAWarningAndChangesNothing(string kind, string why)
    {
        using var device = fixture.DeviceClient();
        using var operators = fixture.OperatorClient(ApiFactory.ObserverToken);
        var udid = NewUdid();
        await EnrollAsync(device, udid, MdmSigning.IdentityFor(udid));
        var revision = await RevisionAsync(operators, udid);
        var before = Refusals(fixture.Logs).Count;

        using var checkIn = await device.PutAsync("/mdm/checkin", Presented(kind, udid, TokenUpdate(udid), Fleet.Api.Mdm.MdmApi.CheckInContentType), TestAborted);
        await ExpectRefusedAsync(checkIn, HttpStatusCode.Unauthorized, why, fixture.Logs, before, udid, $"TokenUpdate of {udid} with {kind}");
        using var report = await device.PutAsync("/mdm/connect", Presented(kind, udid, Idle(udid), Fleet.Api.Mdm.MdmApi.CommandContentType), TestAborted);
        await ExpectRefusedAsync(report, HttpStatusCode.Unauthorized, why, fixture.Logs, before + 1, udid, $"Idle of {udid} with {kind}");

        Assert.Equal(revision, await RevisionAsync(operators, udid));
    }

    [Fact]
    public async Task UnreadableReport_WithoutACertificate_Is401NotTheOldEmpty200()
    {
        using var device = fixture.DeviceClient();
        var before = Refusals(fixture.Logs).Count;

        using var response = await ReportAsync(device, "not a plist"u8.ToArray(), identity: null);

        await ExpectRefusedAsync(response, HttpStatusCode.Unauthorized, "it presents no identity certificate", fixture.Logs, before, "(unknown)", "unsigned garbage report");
    }

    [Fact]
    public async Task CheckIn_ClaimingHostA_WithHostBsCertificate_Is403AndTouchesNeither()
    {
        using var device = fixture.DeviceClient();
        using var operators = fixture.OperatorClient(ApiFactory.ObserverToken);
        var (a, b) = (NewUdid(), NewUdid());
        await EnrollAsync(device, a, MdmSigning.IdentityFor(a));
        await EnrollAsync(device, b, MdmSigning.IdentityFor(b));
        var (revisionA, revisionB) = (await RevisionAsync(operators, a), await RevisionAsync(operators, b));
        var before = Refusals(fixture.Logs).Count;

        using var checkIn = await CheckInAsync(device, TokenUpdate(a), MdmSigning.IdentityFor(b));
        await ExpectRefusedAsync(checkIn, HttpStatusCode.Forbidden, $"was issued to device {b}", fixture.Logs, before, a, $"TokenUpdate claiming {a} signed by {b}");
        using var report = await ReportAsync(device, Idle(a), MdmSigning.IdentityFor(b));
        await ExpectRefusedAsync(report, HttpStatusCode.Forbidden, $"was issued to device {b}", fixture.Logs, before + 1, a, $"Idle claiming {a} signed by {b}");

        Assert.Equal(revisionB, await RevisionAsync(operators, b));
        Assert.Equal(revisionA, await RevisionAsync(operators, a));
    }

    [Fact]
    public async Task CheckIn_WithAnExpiredCertificateFromTheDeviceCa_Is401NamingTheExpiry()
    {
        using var device = fixture.DeviceClient();
        var udid = NewUdid();
        var notAfter = new DateTimeOffset(DateTime.UtcNow.Date.AddDays(-2), TimeSpan.Zero);
        var expired = TestPki.Identity(udid, notAfter.AddDays(-30), notAfter);
        var before = Refusals(fixture.Logs).Count;

        using var response = await CheckInAsync(device, Authenticate(udid), expired);

        await ExpectRefusedAsync(
            response, HttpStatusCode.Unauthorized, $"expired at {notAfter.UtcDateTime:yyyy-MM-dd}T00:00:00Z", fixture.Logs, before, udid, $"expired Authenticate of {udid}");
    }

    [Fact]
    public async Task CertificateNames_WithControlCharacters_CannotForgeLogLines()
    {
        using var device = fixture.DeviceClient();
        var udid = NewUdid();
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName("evil\nwarn: Fleet.Api forged line");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var forged = new CertificateRequest(name.Build(), key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var before = Refusals(fixture.Logs).Count;
        var body = Authenticate(udid);
        var content = MdmSigning.Content(body, Fleet.Api.Mdm.MdmApi.CheckInContentType, identity: null);
        content.Headers.Add(MdmSigning.SignatureHeader, TestPki.Sign(body, forged));

        using var response = await device.PutAsync("/mdm/checkin", content, TestAborted);
        var problem = await ExpectRefusedAsync(
            response, HttpStatusCode.Unauthorized, "'CN=\"evil?warn: Fleet.Api forged line\"'", fixture.Logs, before, udid, $"Authenticate of {udid} with a forged name");

        Assert.DoesNotContain('\n', Refusals(fixture.Logs)[^1].Message);
        Assert.DoesNotContain('\n', Text(problem, "detail")!);
    }

    /// <summary>The body as content presented the way <paramref name="kind"/> says, for device <paramref name="udid"/>.</summary>
    private static ByteArrayContent Presented(string kind, string udid, byte[] body, string contentType)
    {
        var valid = TestPki.Sign(body, MdmSigning.IdentityFor(udid));
        var content = MdmSigning.Content(body, contentType, identity: null);
        var header = kind switch
        {
            "other CA" => TestPki.Sign(body, TestPki.OtherCa.Issue(udid, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30))),
            "self-signed" => TestPki.Sign(body, TestPki.SelfSigned(udid)),
            "truncated header" => valid[..(valid.Length / 8 * 4)],
            "garbage header" => "not//base64!!",
            "not yet valid" => TestPki.Sign(body, TestPki.Identity(udid, DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddDays(30))),
            "server certificate" => TestPki.Sign(body, ServerCertificateFromTheDeviceCa(udid)),
            "no certificate" => null,
            _ => throw new ArgumentException($"unknown kind {kind}", nameof(kind)),
        };
        if (header is not null)
        {
            content.Headers.Add(MdmSigning.SignatureHeader, header);
        }

        return content;
    }

    /// <summary>A certificate from the trusted CA, named for the device, but for TLS servers only.</summary>
    private static X509Certificate2 ServerCertificateFromTheDeviceCa(string udid)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={udid}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var issued = request.Create(TestPki.DeviceCa.Certificate, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);

        return issued.CopyWithPrivateKey(key);
    }
}
