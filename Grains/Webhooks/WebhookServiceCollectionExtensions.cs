using Fleet.Grains.Events;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Webhooks;

public static class WebhookServiceCollectionExtensions
{
    /// <summary>
    /// Validates <c>Fleet:Webhooks</c> at start and, when it names a receiver, registers the sink every host
    /// grain publishes to, its queue and metrics, and the dispatcher. Without a receiver nothing else is added,
    /// so host grains do no webhook work at all.
    /// </summary>
    public static IServiceCollection AddFleetWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<WebhookOptions>()
            .Bind(configuration.GetSection(WebhookOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>>(new WebhookOptionsValidator(configuration));
        var url = configuration.GetSection(WebhookOptions.SectionName)[nameof(WebhookOptions.Url)];
        if (string.IsNullOrWhiteSpace(url))
        {
            return services;
        }

        // Each attempt has its own deadline (WebhookOptions.Timeout), so the client has none. A redirect is not
        // followed: the receiver is named in configuration and a signed event goes nowhere else. The client's own
        // logging is off because the URL may carry a token; the dispatcher logs every attempt itself.
        services.AddHttpClient(WebhookDispatcher.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false })
            .RemoveAllLoggers();
        services.AddSingleton<WebhookQueue>();
        services.AddSingleton<WebhookMetrics>();
        services.AddSingleton<IHostEventSink, WebhookSink>();
        services.AddHostedService<WebhookDispatcher>();

        return services;
    }
}
