using Fleet.Contracts;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Fleet.Grains;

namespace Fleet.Tests.Refetch;

public sealed class RefetchPolicyTests
{
    [Theory]
    [InlineData("darwin", "14.1.2", "macos14")]
    [InlineData("darwin", "15.0", "macos15")]
    [InlineData("darwin", "13.6.2", "darwin")]
    [InlineData("darwin", null, "darwin")]
    [InlineData("linux", "22.04.1 LTS (Jammy Jellyfish)", "linux")]
    [InlineData("windows", "10.0.22631", "windows")]
    [InlineData("ipados", "17.4", "ipados")]
    [InlineData("ios", "17.4", "ios")]
    [InlineData("freebsd", "14.0", "linux")]
    [InlineData(null, null, "linux")]
    public void NameFor_PicksTheMacOsVersionEntryThenTheFamily(string? platform, string? osVersion, string expected)
    {
        var name = RefetchPolicy.NameFor(new HostDetails { Platform = platform, OsVersion = osVersion });

        Assert.Equal(expected, name);
    }

    [Fact]
    public void Options_FromEnvironmentStyleKeys_OverrideOnePolicyAndDefaultTheRest()
    {
        var options = Build(new()
        {
            ["Fleet:Refetch:Policies:macos15:PickupTimeout"] = "00:00:05",
            ["Fleet:Refetch:Policies:macos15:MaxAttempts"] = "7",
        });

        var value = options.Value;

        Assert.Equal(TimeSpan.FromSeconds(5), value.Policies["macos15"].PickupTimeout);
        Assert.Equal(7, value.Policies["macos15"].MaxAttempts);
        Assert.Equal(RefetchPolicyOptions.DefaultResultsTimeout, value.Policies["macos15"].ResultsTimeout);
        Assert.All(RefetchOptions.RequiredPolicies, name => Assert.True(value.Policies.ContainsKey(name), $"missing policy {name}"));
    }

    [Fact]
    public void Options_WithBadValue_FailNamingTheKey()
    {
        var options = Build(new()
        {
            ["Fleet:Refetch:Policies:linux:PickupTimeout"] = "00:00:00",
            ["Fleet:Refetch:Policies:windows:MaxAttempts"] = "0",
        });

        var error = Assert.Throws<OptionsValidationException>(() => options.Value);

        Assert.Contains("Fleet:Refetch:Policies:linux:PickupTimeout must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Refetch:Policies:windows:MaxAttempts must be between 1 and 100", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_WithUnparsableOrMisspeltKey_FailNamingTheKey()
    {
        var options = Build(new()
        {
            ["Fleet:Refetch:Policies:macos14:PickupTimeout"] = "banana",
            ["Fleet:Refetch:Policies:macos14:MaxAttempts"] = "1",
            ["Fleet:Refetch:Policies:linux:PickupTimout"] = "00:00:05",
        });

        var error = Assert.Throws<OptionsValidationException>(() => options.Value);

        Assert.Contains("Fleet:Refetch:Policies:macos14:PickupTimeout must be a time span", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Refetch:Policies:linux:PickupTimout is not a setting", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("darwin", RefetchChannels.OsqueryAndMdm)]
    [InlineData("macos14", RefetchChannels.OsqueryAndMdm)]
    [InlineData("macos15", RefetchChannels.OsqueryAndMdm)]
    [InlineData("ios", RefetchChannels.Mdm)]
    [InlineData("ipados", RefetchChannels.Mdm)]
    [InlineData("linux", RefetchChannels.Osquery)]
    [InlineData("windows", RefetchChannels.Osquery)]
    public void Channels_FollowThePolicyName(string policy, RefetchChannels expected)
    {
        Assert.Equal(expected, RefetchPolicy.ChannelsFor(policy));
    }

    [Fact]
    public void Options_MdmSettings_DefaultPerPolicyAndBindFromConfiguration()
    {
        var options = Build(new()
        {
            ["Fleet:Refetch:Policies:macos15:MdmAckTimeout"] = "00:01:00",
            ["Fleet:Refetch:Policies:macos15:MdmMaxAttempts"] = "5",
        });

        var value = options.Value;
        var policy = RefetchPolicy.From("macos15", value.Policies["macos15"]);

        Assert.Equal(TimeSpan.FromMinutes(1), policy.MdmAckTimeout);
        Assert.Equal(5, policy.MdmMaxAttempts);
        Assert.Equal(TimeSpan.FromMinutes(1), policy.MdmRetryBackoff);
        Assert.Equal(TimeSpan.FromMinutes(10), policy.MdmMaxRetryBackoff);
        Assert.Equal(TimeSpan.FromMinutes(5), value.Policies["ipados"].MdmAckTimeout);
        Assert.Equal(3, value.Policies["ios"].MdmMaxAttempts);
    }

    [Fact]
    public void Options_WithBadMdmValues_FailNamingTheKey()
    {
        var options = Build(new()
        {
            ["Fleet:Refetch:Policies:ipados:MdmAckTimeout"] = "00:00:00",
            ["Fleet:Refetch:Policies:ios:MdmMaxAttempts"] = "none",
            ["Fleet:Refetch:Policies:macos14:MdmRetryBackoff"] = "00:20:00",
        });

        var error = Assert.Throws<OptionsValidationException>(() => options.Value);

        Assert.Contains("Fleet:Refetch:Policies:ipados:MdmAckTimeout must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Refetch:Policies:ios:MdmMaxAttempts must be a whole number (was 'none')", error.Message, StringComparison.Ordinal);
        Assert.Contains(
            "Fleet:Refetch:Policies:macos14:MdmMaxRetryBackoff (00:10:00) must be at least MdmRetryBackoff (00:20:00)",
            error.Message,
            StringComparison.Ordinal);
    }

    private static IOptions<RefetchOptions> Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddFleetGrains(configuration);

        return services.BuildServiceProvider().GetRequiredService<IOptions<RefetchOptions>>();
    }
}
