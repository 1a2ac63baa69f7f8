using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Api.Mdm;
using Fleet.Tests.Infrastructure;
using Fleet.Tests.Mdm;
using static Fleet.Tests.Api.ApiTestKit;
using static Fleet.Tests.Infrastructure.DevicePlist;

namespace Fleet.Tests.Identity;

/// <summary>What the Api's identity tests share: device bodies, signed requests, and the checks of a refusal.</summary>
internal static class ApiIdentityKit
{
    public const string Topic = "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9";

    public static string NewUdid() => Guid.NewGuid().ToString().ToUpperInvariant();

    public static byte[] Authenticate(string udid) => Body(Dict(
        ("MessageType", StringValue("Authenticate")),
        ("SerialNumber", StringValue("C02IDENTITY1")),
        ("Topic", StringValue(Topic)),
        ("UDID", StringValue(udid))));

    public static byte[] TokenUpdate(string udid) => Body(Dict(
        ("MessageType", StringValue("TokenUpdate")),
        ("PushMagic", StringValue("0E1F6C5A-5A2B-4C44-9E4D-3E3C0B4B8A11")),
        ("Token", Data(RandomNumberGenerator.GetBytes(32))),
        ("Topic", StringValue(Topic)),
        ("UDID", StringValue(udid))));

    public static byte[] Idle(string udid) => Body(Dict(("Status", StringValue("Idle")), ("UDID", StringValue(udid))));

    /// <summary>PUTs a check-in signed by <paramref name="identity"/> (null: unsigned).</summary>
    public static Task<HttpResponseMessage> CheckInAsync(HttpClient http, byte[] body, X509Certificate2? identity) =>
        http.PutAsync("/mdm/checkin", MdmSigning.Content(body, MdmApi.CheckInContentType, identity), TestAborted);

    /// <summary>PUTs a command report signed by <paramref name="identity"/> (null: unsigned).</summary>
    public static Task<HttpResponseMessage> ReportAsync(HttpClient http, byte[] body, X509Certificate2? identity) =>
        http.PutAsync("/mdm/connect", MdmSigning.Content(body, MdmApi.CommandContentType, identity), TestAborted);

    /// <summary>Authenticate and TokenUpdate signed by <paramref name="identity"/> (null: unsigned, as over TLS); both must get 200.</summary>
    public static async Task EnrollAsync(HttpClient http, string udid, X509Certificate2? identity)
    {
        using var authenticate = await CheckInAsync(http, Authenticate(udid), identity);
        await ExpectStatusAsync(authenticate, HttpStatusCode.OK, $"Authenticate of {udid}");
        using var token = await CheckInAsync(http, TokenUpdate(udid), identity);
        await ExpectStatusAsync(token, HttpStatusCode.OK, $"TokenUpdate of {udid}");
    }

    public static async Task<long> RevisionAsync(HttpClient operators, string udid) =>
        (await operators.GetHostAsync(udid))["revision"]!.GetValue<long>();

    /// <summary>
    /// Checks a refusal: the status as problem+json whose detail says <paramref name="shown"/> (by default
    /// <paramref name="why"/>), and exactly one new Warning from the authenticator that names
    /// <paramref name="udid"/> and says <paramref name="why"/>. A host's refusal is logged in full but shown
    /// to the device only in general terms.
    /// </summary>
    public static async Task<JsonObject> ExpectRefusedAsync(
        HttpResponseMessage response, HttpStatusCode status, string why, CapturedLogs logs, int warningsBefore, string udid, string context,
        string? shown = null)
    {
        var title = status == HttpStatusCode.Forbidden ? "Forbidden" : "Unauthorized";
        var problem = await ExpectProblemAsync(response, status, title, context);
        Assert.True(
            Text(problem, "detail")!.Contains(shown ?? why, StringComparison.Ordinal),
            $"{context}: expected the detail to say '{shown ?? why}', got '{Text(problem, "detail")}'");

        var warnings = Refusals(logs);
        Assert.True(warnings.Count == warningsBefore + 1, $"{context}: expected one new refusal Warning, saw {warnings.Count - warningsBefore}");
        var line = warnings[^1].Message;
        Assert.StartsWith($"MDM request from UDID {udid} refused with {(int)status}: ", line, StringComparison.Ordinal);
        Assert.True(line.Contains(why, StringComparison.Ordinal), $"{context}: the Warning '{line}' does not say '{why}'");

        return problem;
    }

    /// <summary>The authenticator's refusal Warnings so far.</summary>
    public static IReadOnlyList<LogLine> Refusals(CapturedLogs logs) =>
        [.. logs.Lines.Where(l => l.EventId == 522 && l.Level == LogLevel.Warning)];

    private static byte[] Body(System.Xml.Linq.XElement dict) => Encoding.UTF8.GetBytes(Document(dict));
}
