using System.Net;
using Fleet.Tests.Mdm;
using Microsoft.Extensions.Logging;

namespace Fleet.Tests.Api;

/// <summary>A refused operator token is bad input: one Warning that says where it came from, never the token.</summary>
public sealed class OperatorTokenLogTests(MdmApiFixture fixture) : IClassFixture<MdmApiFixture>
{
    [Fact]
    public async Task UnknownBearerToken_Is401_WithAWarningThatOmitsTheToken()
    {
        const string token = "refused-operator-token-0123456789";
        using var http = fixture.OperatorClient(token);

        using var response = await http.GetAsync("/api/v1/hosts/summary", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var warning = Assert.Single(fixture.Logs.Lines, l => l.EventId == 411);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("GET /api/v1/hosts/summary", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(token, warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NonBearerAuthorization_Is401_WithAWarning()
    {
        using var http = fixture.DeviceClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/hosts");
        request.Headers.TryAddWithoutValidation("Authorization", "Basic dXNlcjpwYXNz");

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var warning = Assert.Single(fixture.Logs.Lines, l => l.EventId == 410);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("GET /api/v1/hosts", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("dXNlcjpwYXNz", warning.Message, StringComparison.Ordinal);
    }
}
