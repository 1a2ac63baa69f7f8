using Fleet.Grains;
using Fleet.Grains.Events;
using Fleet.Grains.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Fleet.Tests.Webhooks;

/// <summary>Webhook settings: off without a URL, and a bad value stops start-up naming its key.</summary>
public sealed class WebhookOptionsTests
{
    private const string Url = "http://127.0.0.1:9/hooks";
    private const string Secret = "0123456789abcdef";

    private static IServiceCollection Register(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        return new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddLogging()
            .AddFleetGrains(configuration);
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings) => Register(settings).BuildServiceProvider();

    // Read from the registrations: resolving every sink would need the silo's grain factory (the event relay).
    private static bool IsWebhookSink(ServiceDescriptor d) =>
        d.ServiceType == typeof(IHostEventSink) && d.ImplementationType == typeof(WebhookSink);

    private static bool IsDispatcher(ServiceDescriptor d) =>
        d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(WebhookDispatcher);

    private static string[] Failures(Dictionary<string, string?> settings)
    {
        using var services = Build(settings);
        try
        {
            _ = services.GetRequiredService<IOptions<WebhookOptions>>().Value;
            return [];
        }
        catch (OptionsValidationException exception)
        {
            return [.. exception.Failures];
        }
    }

    [Fact]
    public void WithoutUrl_WebhooksAreOff_NoSinkAndNoDispatcher()
    {
        var registrations = Register([]);

        Assert.DoesNotContain(registrations, IsWebhookSink);
        Assert.DoesNotContain(registrations, d => d.ImplementationType == typeof(WebhookDispatcher));
        Assert.DoesNotContain(registrations, d => d.ImplementationType == typeof(WebhookQueue));
        Assert.Empty(Failures([]));
    }

    [Fact]
    public void WithUrlAndSecret_RegistersTheSinkAndTheDispatcher()
    {
        var registrations = Register(new() { ["Fleet:Webhooks:Url"] = Url, ["Fleet:Webhooks:Secret"] = Secret });

        Assert.Single(registrations, IsWebhookSink);
        Assert.Single(registrations, IsDispatcher);
    }

    [Theory]
    [InlineData("Url", "ftp://127.0.0.1/hooks", "Fleet:Webhooks:Url must be an absolute http or https address (was 'ftp://127.0.0.1/hooks').")]
    [InlineData("QueueCapacity", "0", "Fleet:Webhooks:QueueCapacity must be between 1 and 1000000 (was 0).")]
    [InlineData("MaxAttempts", "0", "Fleet:Webhooks:MaxAttempts must be between 1 and 100 (was 0).")]
    [InlineData("InitialBackoff", "00:00:00", "Fleet:Webhooks:InitialBackoff must be positive (was 00:00:00).")]
    [InlineData("MaxBackoff", "00:00:00.500", "Fleet:Webhooks:MaxBackoff (00:00:00.5000000) must be at least InitialBackoff (00:00:01).")]
    [InlineData("Timeout", "00:05:00", "Fleet:Webhooks:Timeout must be at most 00:02:00 (was 00:05:00).")]
    [InlineData("Concurrency", "0", "Fleet:Webhooks:Concurrency must be between 1 and 64 (was 0).")]
    [InlineData("Retries", "3", "Fleet:Webhooks:Retries is not a setting; use Url, Secret, SecretFile, QueueCapacity, MaxAttempts, InitialBackoff, MaxBackoff, Timeout, Concurrency.")]
    public void BadValue_FailsNamingItsKey(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?> { ["Fleet:Webhooks:Url"] = Url, ["Fleet:Webhooks:Secret"] = Secret };
        settings[$"Fleet:Webhooks:{key}"] = value;

        Assert.Equal([expected], Failures(settings));
    }

    [Fact]
    public void Url_WithoutSecret_Fails() =>
        Assert.Equal(
            ["Fleet:Webhooks:Secret (or Fleet:Webhooks:SecretFile) is required when Fleet:Webhooks:Url is set."],
            Failures(new() { ["Fleet:Webhooks:Url"] = Url }));

    [Fact]
    public void ShortSecret_FailsWithoutShowingIt() =>
        Assert.Equal(
            ["Fleet:Webhooks:Secret must hold at least 16 bytes (has 5)."],
            Failures(new() { ["Fleet:Webhooks:Url"] = Url, ["Fleet:Webhooks:Secret"] = "short" }));

    [Fact]
    public void SecretFile_IsReadWithoutItsTrailingLineBreak_AndAMissingOneFails()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, Secret + "\n");
            var options = new WebhookOptions { Url = new Uri(Url), SecretFile = file };

            Assert.Equal(Secret, System.Text.Encoding.UTF8.GetString(options.SecretBytes()));
            Assert.Empty(Failures(new() { ["Fleet:Webhooks:Url"] = Url, ["Fleet:Webhooks:SecretFile"] = file }));
        }
        finally
        {
            File.Delete(file);
        }

        var missing = Failures(new() { ["Fleet:Webhooks:Url"] = Url, ["Fleet:Webhooks:SecretFile"] = file });
        Assert.StartsWith($"Fleet:Webhooks:SecretFile cannot be read ('{file}':", Assert.Single(missing), StringComparison.Ordinal);
    }
}
