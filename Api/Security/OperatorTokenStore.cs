using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Fleet.Api.Security;

/// <summary>An accepted operator token, reduced to what authentication needs: its SHA-256, holder and role.</summary>
internal sealed record KnownToken(string Name, string Role, byte[] Hash)
{
    /// <summary>Hashes a token given in clear; the clear text goes no further.</summary>
    public static KnownToken From(OperatorToken token) => new(
        token.Name,
        token.Role,
        token.Token is { } clear ? SHA256.HashData(Encoding.UTF8.GetBytes(clear)) : Convert.FromHexString(token.Sha256!));
}

/// <summary>Replaces each clear-text token in the bound options by its hash, so the options never hold it.</summary>
internal sealed class OperatorTokenHashing : IPostConfigureOptions<OperatorTokenOptions>
{
    public void PostConfigure(string? name, OperatorTokenOptions options)
    {
        foreach (var token in options.Tokens)
        {
            // An invalid entry is left as it is, for the validator to name.
            if (token.Token is { Length: >= OperatorToken.MinLength } clear && string.IsNullOrEmpty(token.Sha256))
            {
                token.Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(clear)));
                token.Token = null;
            }
        }
    }
}

/// <summary>Reads the tokens file: a JSON array of <see cref="OperatorToken"/> with camel- or snake-case names.</summary>
internal static class OperatorTokenFile
{
    /// <summary>Above this a file is refused rather than read; a token list is a few KiB.</summary>
    public const int MaxBytes = 1024 * 1024;

    private static readonly JsonSerializerOptions s_json = new() { PropertyNameCaseInsensitive = true, MaxDepth = 8 };

    public static (IReadOnlyList<OperatorToken> Tokens, string? Error) Read(string path)
    {
        var key = $"{OperatorTokenOptions.SectionName}:TokensFile";
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return ([], $"{key} names '{path}', which does not exist.");
            }

            if (info.Length > MaxBytes)
            {
                return ([], $"{key} '{path}' is larger than {MaxBytes} bytes.");
            }

            var tokens = JsonSerializer.Deserialize<List<OperatorToken>>(File.ReadAllBytes(path), s_json);

            return tokens is null ? ([], $"{key} '{path}' holds null; it must be a JSON array of tokens.") : (tokens, null);
        }
        catch (JsonException exception)
        {
            // Only the position: the parser's own message quotes the text it choked on, which may be a token.
            return ([], $"{key} '{path}' is not a JSON array of tokens (line {exception.LineNumber + 1}, byte {exception.BytePositionInLine}).");
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return ([], $"{key} '{path}' could not be read: {exception.Message}");
        }
    }
}

/// <summary>
/// The tokens in force: those of configuration and those of the tokens file, hashed once when read. Rebuilt when
/// configuration or the file changes; a file that turns invalid leaves the last good tokens in force.
/// </summary>
internal sealed partial class OperatorTokenStore : IDisposable
{
    private readonly IOptionsMonitor<OperatorTokenOptions> _options;
    private readonly ILogger<OperatorTokenStore> _logger;
    private readonly IDisposable? _optionsSubscription;
    private readonly Lock _lock = new();
    private IReadOnlyList<KnownToken> _fromFile = [];
    private IReadOnlyList<KnownToken> _current = [];
    private string? _watchedPath;
    private PhysicalFileProvider? _files;
    private IDisposable? _fileSubscription;

    public OperatorTokenStore(IOptionsMonitor<OperatorTokenOptions> options, ILogger<OperatorTokenStore> logger)
    {
        _options = options;
        _logger = logger;
        Rebuild(options.CurrentValue);
        _optionsSubscription = options.OnChange(Rebuild);
    }

    public IReadOnlyList<KnownToken> Current => Volatile.Read(ref _current);

    public void Dispose()
    {
        _optionsSubscription?.Dispose();
        _fileSubscription?.Dispose();
        _files?.Dispose();
    }

    private void Rebuild(OperatorTokenOptions options)
    {
        lock (_lock)
        {
            var path = options.TokensFile is { Length: > 0 } file ? Path.GetFullPath(file) : null;
            if (path != _watchedPath)
            {
                Watch(path);
                _fromFile = [];
                ReadFile();
            }

            Volatile.Write(ref _current, [.. options.Tokens.Select(KnownToken.From), .. _fromFile]);
        }
    }

    private void Watch(string? path)
    {
        _fileSubscription?.Dispose();
        _files?.Dispose();
        (_files, _fileSubscription, _watchedPath) = (null, null, path);
        if (path is null)
        {
            return;
        }

        var files = new PhysicalFileProvider(Path.GetDirectoryName(path)!);
        var name = Path.GetFileName(path);
        _files = files;
        _fileSubscription = ChangeToken.OnChange(() => files.Watch(name), () =>
        {
            lock (_lock)
            {
                ReadFile();
                Volatile.Write(ref _current, [.. _options.CurrentValue.Tokens.Select(KnownToken.From), .. _fromFile]);
            }
        });
    }

    private void ReadFile()
    {
        if (_watchedPath is not { } path)
        {
            return;
        }

        var (tokens, error) = OperatorTokenFile.Read(path);
        var problems = error is null ? OperatorTokenValidator.Problems(tokens, $"{OperatorTokenOptions.SectionName}:TokensFile entry") : [error];
        if (problems.Count > 0)
        {
            LogFileRefused(path, string.Join(" ", problems), _fromFile.Count);
            return;
        }

        _fromFile = [.. tokens.Select(KnownToken.From)];
        LogFileRead(path, _fromFile.Count);
    }

    [LoggerMessage(EventId = 412, Level = LogLevel.Information, Message = "Operator tokens file {Path} read: {Count} tokens")]
    private partial void LogFileRead(string path, int count);

    [LoggerMessage(EventId = 413, Level = LogLevel.Error,
        Message = "Operator tokens file {Path} refused: {Problems} The {Count} tokens read before stay in force")]
    private partial void LogFileRefused(string path, string problems, int count);
}
