using Fleet.Silo.Diagnostics;
using Fleet.Telemetry;
using Orleans.Dashboard;

namespace Fleet.Silo;

/// <summary>
/// The silo process: grains, reminders and the Orleans Dashboard. Written as a class rather than top-level
/// statements so its <c>Program</c> does not clash with the Api's in projects that reference both.
/// </summary>
public static class SiloProgram
{
    public static int Main(string[] args)
    {
        if (!StartupConfiguration.TryBuild(() => Build(args), Console.Error, out var app)
            || !StartupConfiguration.IsValid(app.Services, Console.Error))
        {
            return StartupConfiguration.ExitCode;
        }

        app.MapOrleansDashboard(routePrefix: "/dashboard");
        app.MapGet("/", () => Results.Redirect("/dashboard"));
        app.MapGet("/healthz", () => Results.Ok(new { status = "alive" }));
        app.MapFleetReadiness();
        app.MapSiloDiagnostics();
        app.MapFleetMetrics();

        app.Run();

        return 0;
    }

    /// <summary>The silo's host, set up from its configuration; settings it reads here (ports, storage bounds) are checked again at start.</summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);

        // Orleans 10 logs every placement attempt through Polly at Information.
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        builder.UseOrleans(silo => silo.UseFleetSilo(builder.Configuration));
        builder.AddFleetTelemetry("fleet-silo");
        builder.Services.AddFleetSiloReadiness();

        return builder.Build();
    }
}
