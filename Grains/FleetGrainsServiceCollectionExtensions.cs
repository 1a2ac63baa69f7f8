using Fleet.Grains.Diagnostics;
using Fleet.Grains.Index;
using Fleet.Grains.Mdm;
using Fleet.Grains.Profiles;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Fleet.Grains;

public static class FleetGrainsServiceCollectionExtensions
{
    /// <summary>
    /// Registers what the grains need besides Orleans itself: validated refetch policies, profile settings and
    /// push options, the clock, metrics and the index store. The caller registers a <c>TableServiceClient</c>.
    /// </summary>
    public static IServiceCollection AddFleetGrains(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RefetchOptions>()
            .Bind(configuration.GetSection(RefetchOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<RefetchOptions>, RefetchOptionsDefaults>();
        services.AddSingleton<IValidateOptions<RefetchOptions>>(new RefetchOptionsValidator(configuration));
        services.AddOptions<PushOptions>().BindConfiguration(PushOptions.SectionName);
        services.AddOptions<ProfileOptions>()
            .Bind(configuration.GetSection(ProfileOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProfileOptions>>(new ProfileOptionsValidator(configuration));
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<FleetMetrics>();
        services.TryAddSingleton<HostIndexStore>();

        return services;
    }
}
