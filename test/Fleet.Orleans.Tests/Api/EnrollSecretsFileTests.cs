using Fleet.Api.Security;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Api;

/// <summary>
/// Enroll secrets held in a file rotate without a restart: the verifier reads the file again when it changes,
/// looking no more than once a second, and keeps accepting the configured list beside it.
/// </summary>
public sealed class EnrollSecretsFileTests : IDisposable
{
    private const string Configured = "configured-secret-1";
    private const string Old = "old-secret-from-file";
    private const string New = "new-secret-from-file";

    private readonly string _path = Path.Combine(Path.GetTempPath(), $"fleet-enroll-{Guid.NewGuid():N}.txt");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-05T06:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void SecretsInTheFile_AreAccepted_AndARewrittenFileReplacesThemAfterTheNextLook()
    {
        File.WriteAllLines(_path, ["# rotated by the operator", string.Empty, $"  {Old}  ", "short"]);
        var verifier = Verifier(_path);

        var before = (verifier.IsValid(Old), verifier.IsValid(New), verifier.IsValid(Configured), verifier.IsValid("short"));
        File.WriteAllLines(_path, [New]);
        File.SetLastWriteTimeUtc(_path, DateTime.UtcNow.AddSeconds(5));
        var withinTheSecond = (verifier.IsValid(Old), verifier.IsValid(New));
        _time.Advance(TimeSpan.FromSeconds(1));
        var after = (verifier.IsValid(Old), verifier.IsValid(New), verifier.IsValid(Configured));

        Assert.Equal((true, false, true, false), before);
        Assert.Equal((true, false), withinTheSecond);
        Assert.Equal((false, true, true), after);
    }

    [Fact]
    public void MissingFile_RefusesOnlyItsOwnSecrets_UntilItAppears()
    {
        var verifier = Verifier(_path);

        var missing = (verifier.IsValid(New), verifier.IsValid(Configured));
        File.WriteAllLines(_path, [New]);
        _time.Advance(TimeSpan.FromSeconds(1));
        var appeared = verifier.IsValid(New);

        Assert.Equal((false, true), missing);
        Assert.True(appeared, "a secret in a file created after start was refused");
    }

    private EnrollSecretVerifier Verifier(string path)
    {
        var options = new AgentOptions { EnrollSecrets = [Configured], EnrollSecretsFile = path };

        return new EnrollSecretVerifier(new StaticMonitor(options), _time, NullLogger<EnrollSecretVerifier>.Instance);
    }

    private sealed class StaticMonitor(AgentOptions value) : IOptionsMonitor<AgentOptions>
    {
        public AgentOptions CurrentValue => value;

        public AgentOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<AgentOptions, string?> listener) => null;
    }
}
