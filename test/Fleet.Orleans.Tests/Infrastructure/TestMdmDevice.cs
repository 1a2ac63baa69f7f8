using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// An Apple device speaking MDM to its host grain, driven step by step by a test (the grain calls the Api
/// makes). Each device has its own push token, so <see cref="TestPushSender"/> tells its pushes apart. It
/// presents a <see cref="TestPki"/> identity valid for a year unless told to present another one, or none.
/// </summary>
public sealed class TestMdmDevice(Func<IHostGrain> host, string udid, MdmDeviceFacts facts)
{
    public const string Topic = "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9";

    private DeviceCertificate? _certificate;

    public string Udid { get; } = udid;

    public MdmDeviceFacts Facts { get; } = facts;

    public string Token { get; } = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());

    public MdmPushTarget PushTarget => new(Token, "CEFDF0BD-E342-4A27-8742-E930EA116B0A", Topic);

    /// <summary>The identity every request comes with; null sends none.</summary>
    public X509Certificate2? Identity { get; private set; } = TestPki.Identity(udid);

    /// <summary>What the Api passes to the host for <see cref="Identity"/>.</summary>
    public DeviceCertificate? Certificate => _certificate ??= Identity is null ? null : DeviceCertificate.Of(Identity, IdentityPresentation.MdmSignature);

    /// <summary>From now on every request comes with <paramref name="identity"/> (null: with none).</summary>
    public TestMdmDevice Present(X509Certificate2? identity)
    {
        Identity = identity;
        _certificate = null;

        return this;
    }

    /// <summary>Installs the identity a RenewIdentity command carries and presents it from now on.</summary>
    public X509Certificate2 Install(IssuedIdentity issued) =>
        Present(X509CertificateLoader.LoadPkcs12(issued.Pkcs12, issued.Password)).Identity!;

    public static MdmDeviceFacts Mac(string osVersion, string serial = "C02TESTMAC01") => new()
    {
        ProductName = "MacBookPro18,3",
        OsVersion = osVersion,
        BuildVersion = "23B92",
        SerialNumber = serial,
        DeviceName = "Test MacBook",
    };

    /// <summary>The facts of the nanomdm <c>Authenticate.1.plist</c> payload.</summary>
    public static MdmDeviceFacts IPad() => new()
    {
        ProductName = "iPad2,5",
        OsVersion = "9.3.5",
        BuildVersion = "13G36",
        SerialNumber = "TESTSERIAL01",
    };

    /// <summary>Authenticate, then TokenUpdate, as a device does when its enrollment profile is installed.</summary>
    public async Task EnrollAsync()
    {
        Assert.True((await AuthenticateAsync()).Accepted, $"host {Udid}: Authenticate not accepted");
        Assert.True((await TokenUpdateAsync()).Accepted, $"host {Udid}: TokenUpdate not accepted");
    }

    public Task<MdmCheckInResult> AuthenticateAsync() =>
        host().MdmCheckInAsync(new MdmCheckIn(MdmCheckInType.Authenticate, Udid, Facts, null) { Certificate = Certificate });

    public Task<MdmCheckInResult> TokenUpdateAsync() =>
        host().MdmCheckInAsync(new MdmCheckIn(MdmCheckInType.TokenUpdate, Udid, null, PushTarget) { Certificate = Certificate });

    public Task<MdmCheckInResult> CheckOutAsync() =>
        host().MdmCheckInAsync(new MdmCheckIn(MdmCheckInType.CheckOut, Udid, null, null) { Certificate = Certificate });

    /// <summary>Wakes up (after a push) and asks for a command: a new device session.</summary>
    public Task<MdmReportResult> IdleAsync() => ReportAsync(MdmResultStatus.Idle, null);

    /// <summary>Answers <paramref name="commandUuid"/>, with this device's facts or an empty profile list as its payload.</summary>
    public Task<MdmReportResult> AnswerAsync(string commandUuid, MdmResultStatus status, IReadOnlyList<MdmError>? errors = null) =>
        ReportAsync(status, commandUuid, errors);

    private Task<MdmReportResult> ReportAsync(MdmResultStatus status, string? commandUuid, IReadOnlyList<MdmError>? errors = null) =>
        host().MdmReportAsync(new MdmReport(
            Udid,
            status,
            commandUuid,
            errors ?? [],
            status == MdmResultStatus.Acknowledged ? Facts : null,
            status == MdmResultStatus.Acknowledged ? [] : null)
        {
            Certificate = Certificate,
        });
}
