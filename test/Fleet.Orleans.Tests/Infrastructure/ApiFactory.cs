using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Orleans.TestingHost;

namespace Fleet.Tests.Infrastructure;

/// <summary>
/// The real Api, hosted in memory, joined to a test cluster through Azure Table membership. It trusts
/// <see cref="TestPki.DeviceCa"/> for MDM identity certificates unless <paramref name="trustDeviceCa"/> is false.
/// </summary>
public sealed class ApiFactory(TestCluster cluster, bool trustDeviceCa = true) : WebApplicationFactory<Program>
{
    public const string MaintainerToken = "maintainer-token-0123456789";
    public const string ObserverToken = "observer-token-0123456789ab";
    public const string EnrollSecret = "enroll-secret-for-tests";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("ConnectionStrings:FleetStorage", TestStorage.ConnectionString);
        builder.UseSetting("Fleet:Cluster:ClusterId", cluster.Options.ClusterId);
        builder.UseSetting("Fleet:Cluster:ServiceId", cluster.Options.ServiceId);
        builder.UseSetting("Fleet:Api:Tokens:0:Name", "maintainer");
        builder.UseSetting("Fleet:Api:Tokens:0:Token", MaintainerToken);
        builder.UseSetting("Fleet:Api:Tokens:0:Role", "maintainer");
        builder.UseSetting("Fleet:Api:Tokens:1:Name", "observer");
        builder.UseSetting("Fleet:Api:Tokens:1:Token", ObserverToken);
        builder.UseSetting("Fleet:Api:Tokens:1:Role", "observer");
        builder.UseSetting("Fleet:Agents:EnrollSecrets:0", EnrollSecret);
        if (trustDeviceCa)
        {
            builder.UseSetting("Fleet:Mdm:Identity:TrustedCaFiles:0", TestPki.CaCertificateFile);
        }
    }

    public HttpClient CreateOperatorClient(string token = MaintainerToken)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);

        return client;
    }
}
