using Fleet.Api.Events;
using Fleet.Grains;
using Fleet.Grains.Events;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Tests.Events;

/// <summary>The silo's <c>Fleet:Events</c> and the Api's <c>Fleet:EventStreams</c> settings: defaults and refusals naming the key.</summary>
public sealed class EventSettingsTests
{
    [Fact]
    public void SiloSettings_WhenAbsent_UseTheDocumentedDefaults()
    {
        var options = SiloOptions([]).Value;

        Assert.Equal(10_000, options.QueueCapacity);
        Assert.Equal(256, options.MaxBatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.BatchWindow);
        Assert.Equal(TimeSpan.FromMinutes(1), options.DropWarningInterval);
        Assert.Equal(TimeSpan.FromMinutes(2), options.SubscriptionLease);
    }

    [Fact]
    public void SiloSettings_WhenOutOfRangeOrMisspelt_AreRefusedNamingEachKey()
    {
        var options = SiloOptions(new()
        {
            ["Fleet:Events:QueueCapacity"] = "0",
            ["Fleet:Events:MaxBatchSize"] = "20000",
            ["Fleet:Events:BatchWindow"] = "-00:00:01",
            ["Fleet:Events:SubscriptionLease"] = "00:00:00.500",
            ["Fleet:Events:Lease"] = "00:02:00",
        });

        var error = Assert.Throws<OptionsValidationException>(() => options.Value);

        Assert.Equal(
            [
                "Fleet:Events:Lease is not a setting; use QueueCapacity, MaxBatchSize, BatchWindow, DropWarningInterval, SubscriptionLease.",
                "Fleet:Events:QueueCapacity must be between 1 and 1000000 (was 0).",
                "Fleet:Events:MaxBatchSize must be between 1 and 10000 (was 20000).",
                "Fleet:Events:BatchWindow must be from 00:00:00 to 00:00:10 (was -00:00:01).",
                "Fleet:Events:SubscriptionLease must be at least 00:00:01 (was 00:00:00.5000000).",
            ],
            error.Failures);
    }

    [Fact]
    public void ApiSettings_WhenOutOfRangeOrMisspelt_AreRefusedNamingEachKey()
    {
        var configuration = Configuration(new()
        {
            ["Fleet:EventStreams:KeepAliveInterval"] = "00:00:00",
            ["Fleet:EventStreams:ClientBuffer"] = "0",
            ["Fleet:EventStreams:ResubscribeBackoff"] = "00:00:10",
            ["Fleet:EventStreams:MaxResubscribeBackoff"] = "00:00:05",
            ["Fleet:EventStreams:Buffer"] = "10",
        });
        var options = configuration.GetSection(EventStreamOptions.SectionName).Get<EventStreamOptions>()!;

        var result = new EventStreamOptionsValidator(configuration).Validate(null, options);

        Assert.Equal(
            [
                "Fleet:EventStreams:Buffer is not a setting; use KeepAliveInterval, ClientBuffer, ResubscribeBackoff, MaxResubscribeBackoff.",
                "Fleet:EventStreams:KeepAliveInterval must be from 00:00:00.1 to 00:05:00 (was 00:00:00).",
                "Fleet:EventStreams:ClientBuffer must be between 1 and 100000 (was 0).",
                "Fleet:EventStreams:MaxResubscribeBackoff (00:00:05) must be at least ResubscribeBackoff (00:00:10).",
            ],
            result.Failures);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

    private static IOptions<HostEventOptions> SiloOptions(Dictionary<string, string?> settings)
    {
        var configuration = Configuration(settings);

        return new ServiceCollection().AddLogging().AddFleetGrains(configuration).BuildServiceProvider()
            .GetRequiredService<IOptions<HostEventOptions>>();
    }
}
