using System.Net.Sockets;
using Azure.Data.Tables;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// The Azurite instance the tests run against. <c>tools/test</c> starts a throwaway one and exports
/// <c>FLEET_TEST_STORAGE</c>; without it the tests use Azurite on its default ports.
/// </summary>
public static class TestStorage
{
    public const string EnvironmentVariable = "FLEET_TEST_STORAGE";

    /// <summary>Azurite's well-known development account, which every Azurite the tests start serves.</summary>
    public const string DevelopmentAccount = "devstoreaccount1";

    public const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly Lazy<string> s_connectionString = new(Resolve);

    public static string ConnectionString => s_connectionString.Value;

    private static string Resolve()
    {
        var value = Environment.GetEnvironmentVariable(EnvironmentVariable);
        var connectionString = string.IsNullOrWhiteSpace(value) ? "UseDevelopmentStorage=true" : value;
        var endpoint = new TableServiceClient(connectionString).Uri;

        // Orleans hangs for minutes when storage is down; refuse up front with a message that says what to do.
        using var socket = new TcpClient();
        try
        {
            socket.ConnectAsync(endpoint.Host, endpoint.Port).Wait(TimeSpan.FromSeconds(3));
        }
        catch (AggregateException)
        {
        }

        if (!socket.Connected)
        {
            throw new InvalidOperationException(
                $"Azurite is not answering at {endpoint.Host}:{endpoint.Port}. Run the tests with tools/test, " +
                $"which starts it, or set {EnvironmentVariable} to a reachable storage connection string.");
        }

        return connectionString;
    }
}

/// <summary>The test profile: <c>ci</c> runs the short form of long suites.</summary>
public static class TestProfile
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("FLEET_TEST_PROFILE"), "ci", StringComparison.OrdinalIgnoreCase);
}
