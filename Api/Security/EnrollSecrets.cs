using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Fleet.Api.Security;

/// <summary>Agent enrollment. Bound from <c>Fleet:Agents</c>; re-read on change, so secrets rotate without a restart.</summary>
public sealed class AgentOptions
{
    public const string SectionName = "Fleet:Agents";

    /// <summary>Enroll secrets accepted now. During a rotation list both the old and the new one.</summary>
    public List<string> EnrollSecrets { get; set; } = [];

    /// <summary>
    /// A file of further enroll secrets, one a line (blank lines and lines starting with <c>#</c> skipped).
    /// It is read again when it changes, so secrets held there rotate without a restart even when the rest of
    /// the configuration comes from environment variables, which are read once.
    /// </summary>
    public string? EnrollSecretsFile { get; set; }
}

/// <summary>
/// Checks an agent's enroll secret in constant time against the configured list and the secrets file by
/// SHA-256 hash: the list's are taken again when the options are re-read, the file's when its size or write
/// time changes (looked at no more than once a second).
/// </summary>
public sealed partial class EnrollSecretVerifier(IOptionsMonitor<AgentOptions> options, TimeProvider time, ILogger<EnrollSecretVerifier> logger)
{
    private static readonly TimeSpan s_fileCheckPeriod = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private ConfiguredSecrets _configured = new([], []);
    private SecretsFile _file = SecretsFile.None;
    private DateTimeOffset _fileCheckedAt = DateTimeOffset.MinValue;

    public bool IsValid(string? presented)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > 256)
        {
            return false;
        }

        var hash = Hash(presented);
        var valid = false;
        foreach (var known in ConfiguredHashes().Concat(FileHashes()))
        {
            valid |= CryptographicOperations.FixedTimeEquals(hash, known);
        }

        return valid;
    }

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>The configured secrets' hashes, taken again only when the options are re-read.</summary>
    private IReadOnlyList<byte[]> ConfiguredHashes()
    {
        var secrets = options.CurrentValue.EnrollSecrets;
        var cached = _configured;
        if (!ReferenceEquals(cached.Secrets, secrets))
        {
            cached = new ConfiguredSecrets(secrets, [.. secrets.Select(Hash)]);
            _configured = cached;
        }

        return cached.Hashes;
    }

    private IReadOnlyList<byte[]> FileHashes()
    {
        var path = options.CurrentValue.EnrollSecretsFile;
        if (string.IsNullOrWhiteSpace(path))
        {
            return [];
        }

        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_file.Path == path && now < _fileCheckedAt + s_fileCheckPeriod)
            {
                return _file.Hashes;
            }

            _fileCheckedAt = now;
            var info = new FileInfo(path);
            var stamp = info.Exists ? (info.Length, info.LastWriteTimeUtc) : (-1L, DateTime.MinValue);
            if (_file.Path != path || _file.Stamp != stamp)
            {
                _file = Load(path, stamp);
            }

            return _file.Hashes;
        }
    }

    private SecretsFile Load(string path, (long, DateTime) stamp)
    {
        try
        {
            var secrets = File.ReadAllLines(path)
                .Select(line => line.Trim())
                .Where(line => line.Length > 0 && !line.StartsWith('#'))
                .ToList();
            var hashes = secrets.Where(s => s.Length >= AgentSecrets.MinimumLength).Select(Hash).ToList();
            LogFileLoaded(path, hashes.Count, secrets.Count - hashes.Count);

            return new SecretsFile(path, stamp, hashes);
        }
        catch (IOException exception)
        {
            // Agents already enrolled are unaffected; new ones are refused until the file reads again.
            LogFileUnreadable(path, exception);

            return new SecretsFile(path, stamp, []);
        }
    }

    private sealed record ConfiguredSecrets(List<string> Secrets, IReadOnlyList<byte[]> Hashes);

    private sealed record SecretsFile(string? Path, (long Length, DateTime Written) Stamp, IReadOnlyList<byte[]> Hashes)
    {
        public static readonly SecretsFile None = new(null, (0, DateTime.MinValue), []);
    }

    [LoggerMessage(EventId = 420, Level = LogLevel.Information,
        Message = "Enroll secrets file {Path} read: {Count} secrets, {Short} lines refused as shorter than 8 characters")]
    private partial void LogFileLoaded(string path, int count, int @short);

    [LoggerMessage(EventId = 421, Level = LogLevel.Error, Message = "Enroll secrets file {Path} could not be read; its secrets are refused until it can")]
    private partial void LogFileUnreadable(string path, Exception exception);
}

internal static class AgentSecrets
{
    public const int MinimumLength = 8;
}

internal static class EnrollSecretSetup
{
    public static IServiceCollection AddAgentEnrollment(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AgentOptions>()
            .Bind(configuration.GetSection(AgentOptions.SectionName))
            .Validate(o => o.EnrollSecrets.All(s => s.Length >= AgentSecrets.MinimumLength), $"{AgentOptions.SectionName}:EnrollSecrets entries must be at least 8 characters.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<EnrollSecretVerifier>();

        return services;
    }
}
