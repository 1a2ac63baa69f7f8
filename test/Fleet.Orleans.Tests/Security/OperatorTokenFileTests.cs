using System.Net;
using System.Security.Cryptography;
using System.Text;
using Fleet.Api.Security;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using static Fleet.Tests.Api.ApiTestKit;

namespace Fleet.Tests.Security;

/// <summary>Operator tokens from a file, re-read when it changes, and held only as hashes.</summary>
public sealed class OperatorTokenFileTests(SecurityApiFixture fixture) : IClassFixture<SecurityApiFixture>
{
    private static readonly TimeSpan s_reload = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task TokenFromTheFile_IsAccepted_WithItsRole()
    {
        using var http = fixture.Client(SecurityApiFixture.FileToken);
        var team = "file-" + Guid.NewGuid().ToString("N")[..12];

        using var read = await http.GetAsync("/api/v1/hosts/summary", TestAborted);
        using var change = await http.PutAsync(
            $"/api/v1/configuration_profiles/com.example.file?team_id={team}",
            new StringContent("{\"display_name\": \"File\", \"checksum\": \"f1\"}", Encoding.UTF8, "application/json"),
            TestAborted);

        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal(HttpStatusCode.OK, change.StatusCode);
    }

    [Fact]
    public async Task ChangedFile_IsReadWithoutARestart_AndAnInvalidOneKeepsTheLastGoodTokens()
    {
        const string observerToken = "file-observer-token-abcdefghijkl";
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(observerToken)));
        using var observer = fixture.Client(observerToken);
        using var former = fixture.Client(SecurityApiFixture.FileToken);
        try
        {
            await File.WriteAllTextAsync(
                fixture.TokensFile, $"[{{\"name\": \"file-observer\", \"role\": \"observer\", \"sha256\": \"{hash}\"}}]", TestAborted);
            await EventuallyAsync(() => StatusAsync(observer), s => s == HttpStatusCode.OK, "the new file's token accepted", s_reload);
            await EventuallyAsync(() => StatusAsync(former), s => s == HttpStatusCode.Unauthorized, "the removed token refused", s_reload);
            var refusedBefore = fixture.Logs.Records.Count(r => r.EventId == 413);

            await File.WriteAllTextAsync(fixture.TokensFile, "{ not json", TestAborted);
            await EventuallyAsync(
                () => Task.FromResult(fixture.Logs.Records.Count(r => r.EventId == 413)),
                count => count > refusedBefore,
                "the invalid file refused",
                s_reload);

            Assert.Equal(HttpStatusCode.OK, await StatusAsync(observer));
            var refusal = fixture.Logs.Records.Last(r => r.EventId == 413);
            Assert.Equal(LogLevel.Error, refusal.Level);
            Assert.Contains("is not a JSON array of tokens (line 1", refusal.Message, StringComparison.Ordinal);
        }
        finally
        {
            await File.WriteAllTextAsync(
                fixture.TokensFile, SecurityApiFixture.TokensJson("file-maintainer", "maintainer", SecurityApiFixture.FileToken), TestAborted);
            await EventuallyAsync(() => StatusAsync(former), s => s == HttpStatusCode.OK, "the first token back", s_reload);
        }
    }

    [Fact]
    public void ClearTextTokens_AreHashedWhenBound_AndNotKept()
    {
        var options = fixture.Service<IOptionsMonitor<OperatorTokenOptions>>().CurrentValue;
        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ApiFactory.MaintainerToken)));

        Assert.NotEmpty(options.Tokens);
        Assert.All(options.Tokens, t => Assert.Null(t.Token));
        Assert.Equal(expected, options.Tokens.Single(t => t.Name == "maintainer").Sha256);
    }

    [Theory]
    [InlineData("missing", "which does not exist")]
    [InlineData("[{\"name\": \"x\", \"role\": \"admin\", \"token\": \"short\"}]", "Token must be at least 16 characters")]
    [InlineData("[{\"name\": \"x\", \"role\": \"admin\", \"sha256\": \"0123\"}]", "Role must be 'observer' or 'maintainer' (was 'admin')")]
    [InlineData("{\"tokens\": []}", "is not a JSON array of tokens")]
    public void InvalidFile_AtStartUp_IsRefused_NamingTheSetting(string content, string problem)
    {
        var file = Path.Combine(Path.GetTempPath(), $"fleet-tokens-{Guid.NewGuid():N}.json");
        if (content != "missing")
        {
            File.WriteAllText(file, content);
        }

        try
        {
            var result = new OperatorTokenValidator().Validate(null, new OperatorTokenOptions { TokensFile = file });

            Assert.True(result.Failed, $"tokens file '{content}' was accepted");
            Assert.Contains(result.Failures!, f => f.Contains("Fleet:Api:TokensFile", StringComparison.Ordinal) && f.Contains(problem, StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/api/v1/hosts/summary", TestAborted);

        return response.StatusCode;
    }
}
