using Fleet.Contracts;
using Fleet.Grains;
using Fleet.Grains.Osquery;
using Fleet.Grains.Profiles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Tests.Profiles;

/// <summary>The <c>Fleet:Mdm:Profiles</c> settings and the osquery rows that confirm profiles.</summary>
public sealed class ProfileSettingsAndIngestTests
{
    private const string Query = DetailQueries.MdmConfigProfiles;

    [Fact]
    public void Options_Unset_UseTheDocumentedDefaults()
    {
        var value = Build([]).Value;

        Assert.Equal(
            (TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(5), 2),
            (value.PendingTimeout, value.VerifyTimeout, value.MissingGrace, value.MaxAttempts));
    }

    [Fact]
    public void Options_WithBadOrMisspeltKeys_FailNamingEachKey()
    {
        var options = Build(new()
        {
            ["Fleet:Mdm:Profiles:PendingTimeout"] = "00:00:00",
            ["Fleet:Mdm:Profiles:MissingGrace"] = "-00:00:01",
            ["Fleet:Mdm:Profiles:MaxAttempts"] = "0",
            ["Fleet:Mdm:Profiles:VerifyTimout"] = "00:05:00",
        });

        var error = Assert.Throws<OptionsValidationException>(() => options.Value);

        Assert.Contains("Fleet:Mdm:Profiles:PendingTimeout must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Mdm:Profiles:MissingGrace must not be negative", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Mdm:Profiles:MaxAttempts must be between 1 and 100", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fleet:Mdm:Profiles:VerifyTimout is not a setting", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InstalledProfiles_ReadsOsqueryDatesUnixTimesAndMissingDates_AndAnUnreadableDateNeverConfirms()
    {
        var results = Results(0,
            Row("com.company.mdm.com.apple.security.firewall", "Firewall", "2023-03-31 01:14:38 +0000"),
            Row("com.company.profiles.PasswordPolicy", "Password Policy", "1680225276"),
            Row("com.example.undated", "Undated", ""),
            Row("com.example.garbled", "Garbled", "yesterday"),
            Row("com.example.local", "No offset", "2026-12-01 00:00:00"),
            Row("", "No identifier", "2023-03-31 01:14:38 +0000"));

        var profiles = DetailIngest.InstalledProfiles(results);

        Assert.Equal(
            [
                new InstalledProfile("com.company.mdm.com.apple.security.firewall", "Firewall", new DateTimeOffset(2023, 3, 31, 1, 14, 38, TimeSpan.Zero)),
                new InstalledProfile("com.company.profiles.PasswordPolicy", "Password Policy", new DateTimeOffset(2023, 3, 31, 1, 14, 36, TimeSpan.Zero)),
                new InstalledProfile("com.example.undated", "Undated", null),
                new InstalledProfile("com.example.garbled", "Garbled", DateTimeOffset.MinValue),
                new InstalledProfile("com.example.local", "No offset", new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero)),
            ],
            profiles);
    }

    [Fact]
    public void InstalledProfiles_WithAnErrorStatusOrNoQuery_AreNotAReport()
    {
        Assert.Null(DetailIngest.InstalledProfiles(Results(1)));
        Assert.Null(DetailIngest.InstalledProfiles(new DetailResults(
            new Dictionary<string, IReadOnlyList<IReadOnlyDictionary<string, string>>>(), new Dictionary<string, int>(), new Dictionary<string, string>())));
        Assert.Equal([], DetailIngest.InstalledProfiles(Results(0)));
    }

    [Fact]
    public void ProfileQuery_IsHandedToMacsOnly_AndItsErrorDoesNotFailTheRefetch()
    {
        var results = Results(1) with { Messages = new Dictionary<string, string> { [Query] = "no such table: macos_profiles" } };

        var verdict = ResultsJudge.Judge(results, Platforms.Darwin);

        Assert.Null(verdict.Failure);
        Assert.Contains(DetailQueries.For(Platforms.Darwin), q => q.Name == Query && !q.Required);
        Assert.DoesNotContain(DetailQueries.For(Platforms.Linux), q => q.Name == Query);
        Assert.DoesNotContain(DetailQueries.For(Platforms.Windows), q => q.Name == Query);
    }

    private static Dictionary<string, string> Row(string identifier, string displayName, string installDate) => new()
    {
        ["identifier"] = identifier,
        ["display_name"] = displayName,
        ["install_date"] = installDate,
    };

    private static DetailResults Results(int status, params Dictionary<string, string>[] rows) => new(
        new Dictionary<string, IReadOnlyList<IReadOnlyDictionary<string, string>>> { [Query] = rows },
        new Dictionary<string, int> { [Query] = status },
        new Dictionary<string, string>());

    private static IOptions<ProfileOptions> Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddFleetGrains(configuration);

        return services.BuildServiceProvider().GetRequiredService<IOptions<ProfileOptions>>();
    }
}
