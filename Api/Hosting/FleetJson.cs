using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fleet.Api.Hosting;

internal static class FleetJson
{
    /// <summary>Deepest JSON accepted anywhere; real agent and operator bodies are under 6 levels.</summary>
    public const int MaxDepth = 16;

    /// <summary>snake_case names, status words as strings, ISO 8601 UTC times.</summary>
    public static IServiceCollection AddFleetJson(this IServiceCollection services) =>
        services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            options.SerializerOptions.DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower;
            options.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
            options.SerializerOptions.MaxDepth = MaxDepth;
        });
}
