using System.Text;
using CsCheck;
using Fleet.Api.Mdm;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;

namespace Fleet.Tests.Fuzz;

/// <summary>
/// The MDM check-in and command URLs under generated plists, signed by the witness device's own identity so they
/// reach the reader and the host. A check-in the server cannot read is a 4xx problem that changes nothing; every
/// command report is 200 (a device resends anything else) unless its identity or size is refused, and since no
/// report answers a command the server sent, none changes the host.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class MdmFuzzTests(FuzzFixture fixture)
{
    // The UDIDs and command UUIDs in the captured payloads (see test/payloads/README.md).
    private const string IMacUdid = "00000000-0000-0000-0000-0000000000A1";
    private const string ZentralInfoUdid = "00000000-0000-0000-0000-0000000000A2";
    private const string ZentralProfilesUdid = "00000000-0000-0000-0000-0000000000A3";

    private static readonly Gen<string> s_wrongContentType = Gen.OneOf("application/json", "text/plain", "application/xml", "");

    [Fact]
    public async Task CheckIn_GeneratedPlists_AreReadOrRefusedWithAProblemAndChangeNothingWhenRefused()
    {
        var udid = await EnrollWitnessAsync();
        var authenticate = Payloads.Read("nanomdm/Authenticate.2.plist").Replace(IMacUdid, udid, StringComparison.Ordinal);
        var tokenUpdate = Payloads.Read("nanomdm/TokenUpdate.2.plist").Replace(IMacUdid, udid, StringComparison.Ordinal);
        var bodies = Gen.Frequency(
            (2, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(authenticate))),
            (2, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(tokenUpdate))),
            (2, FuzzInputs.PlistWrongTypes(authenticate)),
            (1, FuzzInputs.PlistWrongTypes(tokenUpdate)),
            (3, FuzzInputs.HostilePlist(udid)));

        await FuzzDeviceAsync(udid, bodies, MdmApi.CheckInContentType, "/mdm/checkin", FuzzChecks.ExpectCheckInAnswer, withLastSeen: true);
    }

    [Fact]
    public async Task CommandReport_GeneratedPlists_Are200AndChangeNothing()
    {
        var udid = await EnrollWitnessAsync();
        var reports = new[]
        {
            Payloads.Read("nanomdm/DeviceInformation.1.plist").Replace(IMacUdid, udid, StringComparison.Ordinal),
            Payloads.Read("zentral/device_information.plist").Replace(ZentralInfoUdid, udid, StringComparison.Ordinal),
            Payloads.Read("zentral/profile_list.plist").Replace(ZentralProfilesUdid, udid, StringComparison.Ordinal),
        };
        var bodies = Gen.Frequency(
            (2, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(reports[0]))),
            (1, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(reports[1]))),
            (1, FuzzInputs.Mutated(Encoding.UTF8.GetBytes(reports[2]))),
            (2, FuzzInputs.PlistWrongTypes(reports[0])),
            (1, FuzzInputs.PlistWrongTypes(reports[2])),
            (2, FuzzInputs.HostilePlist(udid)),
            (2, UnknownCommandReports(udid)));

        await FuzzDeviceAsync(udid, bodies, MdmApi.CommandContentType, "/mdm/connect", FuzzChecks.ExpectReportAnswer, withLastSeen: false);
    }

    /// <summary>Results for command UUIDs this server never sent, in every status a device reports.</summary>
    private static Gen<FuzzBody> UnknownCommandReports(string udid) =>
        Gen.Select(Gen.Guid, Gen.OneOf("Acknowledged", "Error", "NotNow", "CommandFormatError", "Idle2", ""), (uuid, status) =>
            FuzzBody.Of($"{status} for unknown command {uuid}", DevicePlist.Document(DevicePlist.Dict(
                ("UDID", DevicePlist.StringValue(udid)),
                ("Status", DevicePlist.StringValue(status)),
                ("CommandUUID", DevicePlist.StringValue(uuid.ToString().ToUpperInvariant()))))));

    private async Task FuzzDeviceAsync(
        string udid, Gen<FuzzBody> bodies, string contentType, string path, Action<FuzzAnswer, string> expect, bool withLastSeen)
    {
        using var operators = fixture.OperatorClient();
        using var device = fixture.AgentClient();
        var identity = MdmSigning.IdentityFor(udid);
        var expected = await FuzzChecks.HostStateAsync(operators, udid, withLastSeen);
        var gen = Gen.Select(bodies, Gen.Bool, Gen.Frequency((9, Gen.Const(contentType)), (1, s_wrongContentType)));

        await FuzzChecks.SampleAsync(gen, async input =>
        {
            var (body, dispatch, type) = input;
            var url = dispatch ? "/mdm" : path;
            var context = $"PUT {url} as '{type}' with {body}";
            using var request = new HttpRequestMessage(HttpMethod.Put, url)
            {
                // CMS cannot sign empty content, so an empty body goes unsigned, as a broken device would send it.
                Content = MdmSigning.Content(body.Bytes, type.Length == 0 ? null : type, body.Bytes.Length == 0 ? null : identity),
            };

            var kind = type != contentType ? "wrong type" : contentType == MdmApi.CheckInContentType ? "check-in" : "report";
            var answer = await FuzzChecks.SendAsync(device, request, $"PUT {url} ({kind})", body.ToString());
            if (type == contentType)
            {
                expect(answer, context);
            }
            else
            {
                Assert.True(answer.Code == 415, $"{context}: a wrong Content-Type answered {answer.Code}, expected 415");
            }

            FuzzChecks.ExpectOperatorAnswer(answer, context);
            var state = await FuzzChecks.HostStateAsync(operators, udid, withLastSeen);
            var mustNotChange = answer.Rejected || !withLastSeen;

            Assert.True(!mustNotChange || state == expected, $"{context}: answered {answer.Code} but host {udid} changed from {expected} to {state}");
            expected = state;
        });
    }

    /// <summary>A Mac enrolled in MDM through the Api with the captured Authenticate and TokenUpdate.</summary>
    private async Task<string> EnrollWitnessAsync()
    {
        using var device = fixture.AgentClient();
        var udid = Guid.NewGuid().ToString().ToUpperInvariant();
        foreach (var file in new[] { "nanomdm/Authenticate.2.plist", "nanomdm/TokenUpdate.2.plist" })
        {
            var body = Encoding.UTF8.GetBytes(Payloads.Read(file).Replace(IMacUdid, udid, StringComparison.Ordinal));
            using var content = MdmSigning.Content(body, MdmApi.CheckInContentType, MdmSigning.IdentityFor(udid));
            using var response = await device.PutAsync("/mdm/checkin", content, ApiTestKit.TestAborted);
            await ApiTestKit.ExpectStatusAsync(response, System.Net.HttpStatusCode.OK, $"{file} as {udid}");
        }

        return udid;
    }
}
