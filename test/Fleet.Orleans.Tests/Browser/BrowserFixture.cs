using System.Net;
using Fleet.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Playwright;
using Orleans.TestingHost;

namespace Fleet.Tests.Browser;

/// <summary>
/// A cluster of its own, the real Api listening on a 127.0.0.1 port (a browser cannot reach an in-memory
/// server), and Debian's Chromium driven by Playwright. Playwright's own browser downloads are never used.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string DashboardUrl = "http://127.0.0.1:8080/dashboard";

    private static readonly string[] s_chromiumArgs =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ];

    private ApiFactory? _api;
    private WebApplicationFactory<Program>? _listening;
    private IPlaywright? _playwright;

    public TestCluster Cluster { get; } = FleetTestCluster.Create();

    /// <summary>The Api's address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots go: <c>TestResults/screenshots</c> at the top of the repository.</summary>
    public static string ScreenshotFolder { get; } = Path.Combine(TestRepository.Root(), "TestResults", "screenshots");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException(
                $"The browser tests need Debian's Chromium at {ChromiumPath}, and it is not there. Install it with "
                + "'apt-get install -y --no-install-recommends chromium' (tools/test does this when it runs as root).");
        }

        await Cluster.DeployAsync();
        _api = new ApiFactory(Cluster);
        _listening = _api.WithWebHostBuilder(web => web.UseSetting("Fleet:StatusPage:DashboardUrl", DashboardUrl));
        _listening.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        await Task.Run(_listening.StartServer).WaitAsync(TimeSpan.FromSeconds(60));
        var addresses = _listening.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!;
        BaseAddress = new Uri(addresses.Addresses.Single());

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = s_chromiumArgs,
        });
        Directory.CreateDirectory(ScreenshotFolder);
    }

    /// <summary>A client of the listening Api; with a token it is an operator client.</summary>
    public HttpClient Http(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }

        return client;
    }

    /// <summary>A fresh browser context (its own sessionStorage) and page at 1280 by 900.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
        });

        return await context.NewPageAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (_listening is not null)
        {
            await _listening.DisposeAsync();
        }

        if (_api is not null)
        {
            await _api.DisposeAsync();
        }

        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}
