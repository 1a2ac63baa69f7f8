using System.Net;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Index;

/// <summary>GET /api/v1/hosts/identifier/{value} through the real Api, on hosts enrolled with serials and hostnames of their own.</summary>
public sealed class HostLookupApiTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Lookup_OfASerialTwoHostsShare_ReturnsTheMostRecentlySeenAndSaysSo()
    {
        var serial = "C02" + Guid.NewGuid().ToString("N")[..9].ToUpperInvariant();
        var reimaged = await EnrollAsync(serial, "before-reimage");
        var current = await EnrollAsync(serial, "after-reimage");
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        var found = await EventuallyAsync(
            () => LookupAsync(http, serial.ToLowerInvariant()),
            body => body["other_matches"]?.AsArray().Count == 1,
            $"serial {serial} matching both hosts");

        ExpectTexts(found, new Dictionary<string, string?>
        {
            ["host_id"] = current,
            ["matched_by"] = "serial",
            ["note"] = $"2 hosts share serial {serial}; the most recently seen is returned.",
        }, $"lookup of serial {serial}");
        Assert.Equal(current, Text(found["host"], "host_id"));
        var other = found["other_matches"]![0];
        ExpectTexts(other, new Dictionary<string, string?>
        {
            ["host_id"] = reimaged,
            ["serial"] = serial,
            ["hostname"] = "before-reimage-" + serial,
        }, $"other match of serial {serial}");
        Assert.NotNull(Text(other, "last_seen_at"));
    }

    [Fact]
    public async Task Lookup_AfterTheOlderHostIsSeenAgain_ReturnsThatHost()
    {
        var serial = "C02" + Guid.NewGuid().ToString("N")[..9].ToUpperInvariant();
        var first = await EnrollAsync(serial, "first");
        var second = await EnrollAsync(serial, "second");
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);
        await EventuallyAsync(() => LookupAsync(http, serial), b => Text(b, "host_id") == second, $"serial {serial} finding {second}");

        await EnrollAsync(serial, "first", first);

        var found = await EventuallyAsync(() => LookupAsync(http, serial), b => Text(b, "host_id") == first, $"serial {serial} finding {first}");
        Assert.Equal([second], found["other_matches"]!.AsArray().Select(m => Text(m, "host_id")));
    }

    [Fact]
    public async Task Lookup_ByUuidInLowerCaseOrByHostname_FindsTheOneHostWithoutANote()
    {
        var serial = "C02" + Guid.NewGuid().ToString("N")[..9].ToUpperInvariant();
        var hostId = await EnrollAsync(serial, "solo");
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        var byId = await EventuallyAsync(() => LookupAsync(http, hostId.ToLowerInvariant()), b => b.Count > 0, $"host {hostId} by id");
        var byHostname = await LookupAsync(http, "SOLO-" + serial);

        ExpectTexts(byId, new Dictionary<string, string?> { ["host_id"] = hostId, ["matched_by"] = "host_id", ["note"] = null }, $"lookup of {hostId}");
        ExpectTexts(byHostname, new Dictionary<string, string?> { ["host_id"] = hostId, ["matched_by"] = "hostname", ["note"] = null }, $"lookup of solo-{serial}");
        Assert.Empty(byId["other_matches"]!.AsArray());
        Assert.Equal(serial, Text(byHostname["host"]!["details"], "serial"));
    }

    [Fact]
    public async Task Lookup_OfAValueNoHostHas_Returns404Problem()
    {
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.GetAsync($"/api/v1/hosts/identifier/NO-SUCH-{Guid.NewGuid():N}", TestAborted);

        await ExpectProblemAsync(response, HttpStatusCode.NotFound, "Unknown host", "lookup of an unknown value");
    }

    [Theory]
    [InlineData("%20%20")]
    [InlineData("mac%01one")]
    [InlineData("mac%0Aone")]
    [InlineData(OverlongValue)]
    public async Task Lookup_OfAnInvalidValue_Returns400ProblemNamingValue(string value)
    {
        using var http = fixture.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.GetAsync($"/api/v1/hosts/identifier/{value}", TestAborted);

        await ExpectInvalidParameterAsync(response, "value", $"lookup of '{value}'");
    }

    [Fact]
    public async Task Lookup_WithoutToken_Returns401()
    {
        using var http = fixture.AgentClient();

        using var response = await http.GetAsync("/api/v1/hosts/identifier/anything", TestAborted);

        await ExpectUnauthorizedAsync(response, "anonymous lookup");
    }

    private const string OverlongValue =
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        + "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        + "01234567890123456789012345678901234567890123456789012345";

    private static async Task<System.Text.Json.Nodes.JsonObject> LookupAsync(HttpClient http, string value)
    {
        using var response = await http.GetAsync($"/api/v1/hosts/identifier/{Uri.EscapeDataString(value)}", TestAborted);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }

        return await ExpectStatusAsync(response, HttpStatusCode.OK, $"lookup of '{value}'");
    }

    /// <summary>Enrolls (or re-enrolls) a macOS host with the serial and a hostname made from <paramref name="name"/>; returns its id.</summary>
    private async Task<string> EnrollAsync(string serial, string name, string? hostId = null)
    {
        hostId ??= Guid.NewGuid().ToString().ToUpperInvariant();
        var details = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "15.1", ["name"] = "macOS" },
            ["system_info"] = new Dictionary<string, string> { ["hostname"] = $"{name}-{serial}", ["hardware_serial"] = serial },
        };
        await fixture.Grains.GetGrain<IHostGrain>(hostId).EnrollAsync(new EnrollRequest(details));

        return hostId;
    }
}
