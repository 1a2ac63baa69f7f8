using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fleet.Api.Operators;
using Fleet.Contracts;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Identity;

/// <summary>The operator's side of identity certificates: the host's <c>identity</c>, the expiry filter and the summary counts.</summary>
public sealed class ApiHostIdentityTests(ClusterFixture cluster)
{
    private static readonly DateTimeOffset s_now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("0", 0)]
    [InlineData("30", 30)]
    [InlineData("3650", 3650)]
    public void ExpiresWithin_AWholeNumberOfDays_IsNowPlusThatMany(string days, int expected)
    {
        Assert.True(HostsApi.TryExpiresBefore(days, s_now, out var before), $"certificate_expires_within_days={days}");

        Assert.Equal(s_now.AddDays(expected), before);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("3651")]
    [InlineData("1.5")]
    [InlineData("")]
    [InlineData(" 7")]
    [InlineData("seven")]
    [InlineData("99999999999")]
    public void ExpiresWithin_AnythingElse_IsRefused(string days) =>
        Assert.False(HostsApi.TryExpiresBefore(days, s_now, out _), $"certificate_expires_within_days='{days}' was taken");

    [Theory]
    [InlineData("-1")]
    [InlineData("3651")]
    [InlineData("soon")]
    public async Task List_WithABadExpiryFilter_Is400NamingTheParameter(string days)
    {
        using var http = cluster.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.GetAsync($"/api/v1/hosts?certificate_expires_within_days={Uri.EscapeDataString(days)}", TestAborted);

        await ExpectInvalidParameterAsync(response, "certificate_expires_within_days", $"certificate_expires_within_days={days}");
    }

    [Fact]
    public async Task List_WithAnExpiryFilter_Answers200()
    {
        using var http = cluster.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.GetAsync("/api/v1/hosts?certificate_expires_within_days=30&limit=5", TestAborted);

        var page = await ExpectStatusAsync(response, HttpStatusCode.OK, "certificate_expires_within_days=30");
        Assert.True(page["hosts"] is JsonArray, $"no hosts array: {Show(page)}");
    }

    [Fact]
    public async Task Summary_CountsExpiredAndRenewingIdentities()
    {
        using var http = cluster.OperatorClient(ApiFactory.ObserverToken);

        using var response = await http.GetAsync("/api/v1/hosts/summary", TestAborted);

        var summary = await ExpectStatusAsync(response, HttpStatusCode.OK, "GET summary");
        var identity = summary["identity"] as JsonObject;
        Assert.True(identity is not null, $"summary has no identity object: {Show(summary)}");
        Assert.Equal(["expired", "renewing"], identity.Select(p => p.Key));
        Assert.All(identity, p => Assert.True(p.Value!.GetValue<int>() >= 0, $"identity.{p.Key} = {p.Value}"));
    }

    [Fact]
    public void HostJson_ShowsTheIdentityCertificateAndItsRenewal_NeverAKey()
    {
        var options = cluster.Api.Services.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var identity = new IdentityView(
            "CN=0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", "3A5F00C1", "CN=Fleet.Orleans test device CA",
            s_now.AddDays(-360), s_now.AddDays(5), "AB12", IdentityState.Renewing, s_now.AddDays(-25),
            new RenewalView(RenewalStatus.Queued, 2, "5C1B7C34-62B8-4B66-8F0B-7C4E53C1E6B1", s_now.AddHours(1), null, null),
            null, null, null,
            [new IdentityEvent(s_now, "renewal_queued", "attempt 2")]);
        var view = new HostView("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", new HostDetails(), s_now, null, null, null, [], 7, null, ProfileStatus.None, [], null)
        {
            Identity = identity,
        };

        var json = JsonSerializer.SerializeToNode(view, options)!["identity"]!;

        Assert.Equal("CN=0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", Text(json, "subject"));
        Assert.Equal("3A5F00C1", Text(json, "serial_number"));
        Assert.Equal(s_now.AddDays(5), json["not_after"]!.GetValue<DateTimeOffset>());
        Assert.Equal("renewing", Text(json, "state"));
        Assert.Equal("queued", Text(json["renewal"], "status"));
        Assert.Equal(2, json["renewal"]!["attempt"]!.GetValue<int>());
        Assert.Equal("renewal_queued", Text(json["history"]![0], "step"));
        var text = json.ToJsonString();
        Assert.DoesNotContain("key", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("pkcs12", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("password", text, StringComparison.OrdinalIgnoreCase);
    }
}
