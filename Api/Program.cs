using Fleet.Api.Agents;
using Fleet.Api.Diagnostics;
using Fleet.Api.Documentation;
using Fleet.Api.Events;
using Fleet.Api.Hosting;
using Fleet.Api.Mdm;
using Fleet.Api.Mdm.Identity;
using Fleet.Api.Operators;
using Fleet.Api.Security;
using Fleet.Api.StatusPage;
using Fleet.Telemetry;

var builder = WebApplication.CreateBuilder(args);

builder.Logging.AddFilter("Polly", LogLevel.Warning);
builder.UseFleetHttpsDefaults();
builder.AddFleetOrleansClient();
builder.Services.AddFleetJson();
builder.Services.AddFleetProblemDetails();
builder.Services.AddOperatorAuthentication(builder.Configuration);
builder.Services.AddFleetRateLimits(builder.Configuration);
builder.Services.AddAgentEnrollment(builder.Configuration);
builder.Services.AddCheckInLeases();
builder.Services.AddMdmDeviceIdentity(builder.Configuration);
builder.Services.AddFleetHealthChecks();
builder.Services.AddStatusPage(builder.Configuration);
builder.Services.AddHostEvents(builder.Configuration);
builder.Services.AddFleetApiDocumentation();
builder.AddFleetApiTelemetry();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseRateLimiter();
app.UseAuthorization();
app.UseOperatorRequests();

app.MapFleetHealth();
app.MapFleetMetrics().RequireRateLimiting(RateLimits.Public);
app.MapHostsApi();
app.MapRefetchJobsApi();
app.MapIndexApi();
app.MapConfigurationProfilesApi();
app.MapOsqueryApi("/api/osquery");
app.MapOsqueryApi("/api/v1/osquery");
app.MapMdmApi();
app.MapBenchmarkBaseline();
app.MapStatusPage();
app.MapHostEvents();
app.MapFleetApiDocumentation();

app.Run();

/// <summary>Lets tests host the Api.</summary>
public partial class Program;
