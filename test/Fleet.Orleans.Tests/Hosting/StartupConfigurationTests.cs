using Fleet.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Tests.Hosting;

public sealed class StartupConfigurationTests
{
    [Fact]
    public void WrongSettings_AreListedOncePerProblem_AndTheProcessIsToldNotToStart()
    {
        using var services = Services(first: -1, second: 0);
        using var errors = new StringWriter();

        var valid = StartupConfiguration.IsValid(services, errors);

        Assert.False(valid);
        Assert.Equal(
            [
                "The configuration is not valid; nothing was started:",
                "  - First must be positive (was -1).",
                "  - Second must be positive (was 0).",
            ],
            errors.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void UnparsableSetting_IsListedWithItsKey_LikeAWrongOne()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Fleet:Test:Lease"] = "garbage" })
            .Build();
        var services = new ServiceCollection();
        services.AddOptions<Timed>().Bind(configuration.GetSection("Fleet:Test")).ValidateOnStart();
        using var provider = services.BuildServiceProvider();
        using var errors = new StringWriter();

        var valid = StartupConfiguration.IsValid(provider, errors);

        Assert.False(valid);
        Assert.Equal(
            [
                "The configuration is not valid; nothing was started:",
                "  - Failed to convert configuration value 'garbage' at 'Fleet:Test:Lease' to type 'System.TimeSpan'.",
            ],
            errors.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("Fleet:Cluster:StorageRetries", "abc", "System.Int32")]
    [InlineData("Fleet:Cluster:StorageNetworkTimeout", "soon", "System.TimeSpan")]
    [InlineData("Fleet:Silo:SiloPort", "eleven", "System.Int32")]
    public void UnparsableSettingTheSiloReadsWhileBeingSetUp_IsListedWithItsKey_InsteadOfAborting(string key, string value, string type)
    {
        using var errors = new StringWriter();

        // Found by a break test: these are read to set the silo up (its ports, its storage client), before any
        // validation, and the silo process aborted with a stack trace (exit 134) instead of exit 78.
        var built = StartupConfiguration.TryBuild(() => SiloProgram.Build([$"--{key}={value}"]), errors, out var app);
        using (app)
        {
            Assert.False(built);
        }

        Assert.Equal(
            [
                "The configuration is not valid; nothing was started:",
                $"  - Failed to convert configuration value '{value}' at '{key}' to type '{type}'.",
            ],
            errors.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void RightSettings_AreValid_AndNothingIsWritten()
    {
        using var services = Services(first: 1, second: 2);
        using var errors = new StringWriter();

        Assert.True(StartupConfiguration.IsValid(services, errors));
        Assert.Equal(string.Empty, errors.ToString());
    }

    private static ServiceProvider Services(int first, int second)
    {
        var services = new ServiceCollection();
        services.AddOptions<First>().Configure(o => o.Value = first)
            .Validate(o => o.Value > 0, $"First must be positive (was {first}).").ValidateOnStart();
        services.AddOptions<Second>().Configure(o => o.Value = second)
            .Validate(o => o.Value > 0, $"Second must be positive (was {second}).").ValidateOnStart();

        return services.BuildServiceProvider();
    }

    private sealed class First
    {
        public int Value { get; set; }
    }

    private sealed class Timed
    {
        public TimeSpan Lease { get; set; }
    }

    private sealed class Second
    {
        public int Value { get; set; }
    }
}
