using Fleet.Grains.Diagnostics;
using Fleet.Grains.Events;
using Fleet.Grains.Hosts;
using Fleet.Grains.Idempotency;
using Fleet.Grains.Index;
using Fleet.Grains.Jobs;
using Fleet.Grains.Mdm;
using Fleet.Grains.Mdm.Identity;
using Fleet.Grains.Osquery;
using Fleet.Grains.Profiles;
using Fleet.Grains.Refetch;
using Fleet.Grains.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Fleet.Grains;

public static class FleetGrainsServiceCollectionExtensions
{
    /// <summary>
    /// Registers what the grains need besides Orleans itself: validated refetch policies and check-in leases, bulk refetch job, profile, push, identity
    /// renewal and issuer settings, the clock, metrics, the index store, the push sender, the identity issuer and
    /// the host event relay and webhooks (when configured). The caller registers a <c>TableServiceClient</c>.
    /// </summary>
    public static IServiceCollection AddFleetGrains(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RefetchOptions>()
            .Bind(configuration.GetSection(RefetchOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<RefetchOptions>, RefetchOptionsDefaults>();
        services.AddSingleton<IValidateOptions<RefetchOptions>>(new RefetchOptionsValidator(configuration));
        services.AddOptions<ProfileOptions>()
            .Bind(configuration.GetSection(ProfileOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProfileOptions>>(new ProfileOptionsValidator(configuration));
        services.AddOptions<RefetchJobOptions>()
            .Bind(configuration.GetSection(RefetchJobOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RefetchJobOptions>>(new RefetchJobOptionsValidator(configuration));
        services.AddOptions<IdempotencyOptions>()
            .Bind(configuration.GetSection(IdempotencyOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<IdempotencyOptions>>(new IdempotencyOptionsValidator(configuration));
        services.AddOptions<CheckInOptions>()
            .Bind(configuration.GetSection(CheckInOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<CheckInOptions>>(new CheckInOptionsValidator(configuration));
        services.TryAddSingleton<LeaseHolders>();
        services.TryAddSingleton(TimeProvider.System);
        AddPush(services, configuration);
        AddIdentity(services, configuration);
        services.AddMetrics();
        services.TryAddSingleton<FleetMetrics>();
        services.TryAddSingleton<HostIndexStore>();
        services.TryAddSingleton<HostStateCatalog>();
        services.TryAddSingleton<IndexRecovery>();
        services.AddHostedService(sp => sp.GetRequiredService<IndexRecovery>());
        services.TryAddSingleton<DeactivationFlushes>();
        services.TryAddSingleton<HostGrainServices>();
        AddHostEvents(services, configuration);
        services.AddFleetWebhooks(configuration);

        return services;
    }

    // The relay is a sink every host grain calls and the hosted loop that empties it: one instance, both roles.
    private static void AddHostEvents(IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<HostEventOptions>()
            .Bind(configuration.GetSection(HostEventOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<HostEventOptions>>(new HostEventOptionsValidator(configuration));
        services.TryAddSingleton<HostEventMetrics>();
        services.TryAddSingleton<HostEventRelay>();
        services.AddSingleton<IHostEventSink>(sp => sp.GetRequiredService<HostEventRelay>());
        services.AddHostedService(sp => sp.GetRequiredService<HostEventRelay>());
    }

    // An issuer registered before this call (a test double) is kept.
    private static void AddIdentity(IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RenewalOptions>()
            .Bind(configuration.GetSection(RenewalOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RenewalOptions>>(new RenewalOptionsValidator(configuration));
        services.AddOptions<IssuerOptions>()
            .Bind(configuration.GetSection(IssuerOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<IssuerOptions>>(new IssuerOptionsValidator(configuration));
        services.TryAddSingleton<IIdentityIssuer, CaIdentityIssuer>();
        services.AddHostedService<IssuerStartupReport>();
    }

    // A sender registered before this call (a test double) is kept.
    private static void AddPush(IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<PushOptions>()
            .Bind(configuration.GetSection(PushOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<PushOptions>>(new PushOptionsValidator(configuration));

        // The sender's own deadline (PushOptions.Timeout) bounds each push, so the client has none. The gateway
        // is named in configuration; an HTTP proxy from the environment must not see device tokens, and neither
        // must the logs: the request URL carries the token, so the client's own request logging is off (the
        // sender logs a fingerprint).
        services.AddHttpClient(LoopbackPushSender.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false })
            .RemoveAllLoggers();
        services.TryAddSingleton<IPushSender, LoopbackPushSender>();
    }
}
