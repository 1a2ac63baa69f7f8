using System.Globalization;
using Fleet.Tests.Infrastructure;
using Fleet.Tests.Mdm;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Fleet.Tests.Scenarios;

/// <summary>
/// A cluster and Api of their own for the identity certificate scenarios, whose renewals move in seconds: a
/// RenewIdentity command (and the presentation after its acknowledgement) has <see cref="Timeout"/>, a retry
/// waits <see cref="RetryBackoff"/>, and a replaced certificate is accepted for <see cref="Overlap"/> more.
/// The renewal window keeps its 30-day default: a certificate valid for ten days is renewed at once, one valid
/// for a year never. The Api's log lines are kept, so that every refusal's Warning can be checked.
/// </summary>
public sealed class IdentityScenarioFixture() : ClusterFixture(Settings())
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(4);
    public static readonly TimeSpan RetryBackoff = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Overlap = TimeSpan.FromSeconds(3);

    private readonly Lock _lock = new();
    private WebApplicationFactory<Program>? _loggedApi;

    public CapturedLogs Logs { get; } = new();

    public HttpClient DeviceClient() => LoggedApi().CreateClient();

    public HttpClient OperatorClient(string token = ApiFactory.MaintainerToken)
    {
        var client = LoggedApi().CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);

        return client;
    }

    // Disposed with the fixture's Api, from which it derives.
    private WebApplicationFactory<Program> LoggedApi()
    {
        lock (_lock)
        {
            return _loggedApi ??= Api.WithWebHostBuilder(builder => builder.ConfigureLogging(logging =>
            {
                logging.AddProvider(Logs);
                logging.AddFilter<CapturedLogs>("Fleet.Api", LogLevel.Debug);
            }));
        }
    }

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Fleet:Mdm:Identity:Renewal:Timeout"] = Text(Timeout),
        ["Fleet:Mdm:Identity:Renewal:RetryBackoff"] = Text(RetryBackoff),
        ["Fleet:Mdm:Identity:Renewal:MaxRetryBackoff"] = Text(RetryBackoff),
        ["Fleet:Mdm:Identity:Renewal:Overlap"] = Text(Overlap),
    };

    private static string Text(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
