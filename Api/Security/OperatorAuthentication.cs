using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Fleet.Api.Security;

/// <summary>Operator roles. A maintainer may do everything an observer may.</summary>
public static class OperatorRoles
{
    public const string Observer = "observer";
    public const string Maintainer = "maintainer";

    /// <summary>Authorization policy for reads.</summary>
    public const string CanRead = "fleet.read";

    /// <summary>Authorization policy for changes: refetch, profiles, jobs.</summary>
    public const string CanChange = "fleet.change";
}

/// <summary>Operator bearer tokens. Bound from <c>Fleet:Api</c>.</summary>
public sealed class OperatorTokenOptions
{
    public const string SectionName = "Fleet:Api";

    /// <summary>The accepted tokens; none (here and in <see cref="TokensFile"/>) means every operator request is refused.</summary>
    public List<OperatorToken> Tokens { get; set; } = [];

    /// <summary>
    /// A JSON file of more tokens, an array of objects with <c>name</c>, <c>role</c> and <c>token</c> or <c>sha256</c>;
    /// re-read when it changes. A file that is missing or invalid at start-up stops the start; later, the tokens
    /// read before stay in force until the file is valid again.
    /// </summary>
    public string? TokensFile { get; set; }
}

/// <summary>One operator token: give either the token itself or its SHA-256 (hex), never both.</summary>
public sealed class OperatorToken
{
    /// <summary>Who holds it, for logs.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>The token in clear, for development; hashed at start-up and not kept.</summary>
    public string? Token { get; set; }

    /// <summary>Lower-case hex SHA-256 of the token, for production configuration.</summary>
    public string? Sha256 { get; set; }

    /// <summary><c>observer</c> or <c>maintainer</c>.</summary>
    public string Role { get; set; } = OperatorRoles.Observer;

    internal const int MinLength = 16;

    internal static bool IsSha256Hex(string hex) => hex.Length == 64 && hex.All(char.IsAsciiHexDigit);
}

internal sealed class OperatorTokenValidator : IValidateOptions<OperatorTokenOptions>
{
    public ValidateOptionsResult Validate(string? name, OperatorTokenOptions options)
    {
        var errors = Problems(options.Tokens, $"{OperatorTokenOptions.SectionName}:Tokens");
        if (options.TokensFile is { Length: > 0 } file)
        {
            var read = OperatorTokenFile.Read(file);
            errors.AddRange(read.Error is { } error ? [error] : Problems(read.Tokens, $"{OperatorTokenOptions.SectionName}:TokensFile {file}, entry"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>What is wrong with each token, each sentence naming the entry as <paramref name="prefix"/>:index.</summary>
    public static List<string> Problems(IReadOnlyList<OperatorToken> tokens, string prefix)
    {
        var errors = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var key = $"{prefix}:{i}";
            if (string.IsNullOrEmpty(token.Token) == string.IsNullOrEmpty(token.Sha256))
            {
                errors.Add($"{key} needs exactly one of Token or Sha256.");
            }
            else if (token.Token is { Length: < OperatorToken.MinLength })
            {
                errors.Add($"{key}:Token must be at least {OperatorToken.MinLength} characters.");
            }
            else if (token.Sha256 is { } hex && !OperatorToken.IsSha256Hex(hex))
            {
                errors.Add($"{key}:Sha256 must be 64 hex digits.");
            }

            if (token.Role is not (OperatorRoles.Observer or OperatorRoles.Maintainer))
            {
                errors.Add($"{key}:Role must be '{OperatorRoles.Observer}' or '{OperatorRoles.Maintainer}' (was '{token.Role}').");
            }
        }

        return errors;
    }
}

/// <summary>
/// Checks <c>Authorization: Bearer …</c> against the configured tokens' hashes in constant time, and
/// answers refusals with problem+json.
/// </summary>
internal sealed partial class OperatorTokenHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    OperatorTokenStore tokens,
    IProblemDetailsService problems,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "OperatorToken";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > 512)
        {
            LogNotBearer(Logger, Request.Method, Request.Path, Context.Connection.RemoteIpAddress?.ToString());
            return Task.FromResult(AuthenticateResult.Fail("The Authorization header is not a bearer token."));
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        KnownToken? match = null;
        foreach (var candidate in tokens.Current)
        {
            // Compare against every token so the time taken does not tell which one came close.
            if (CryptographicOperations.FixedTimeEquals(presented, candidate.Hash))
            {
                match = candidate;
            }
        }

        if (match is null)
        {
            // Never the token itself, nor its hash: where it came from and what it asked for.
            LogUnknownToken(Logger, Request.Method, Request.Path, Context.Connection.RemoteIpAddress?.ToString());
            return Task.FromResult(AuthenticateResult.Fail("The bearer token is not valid."));
        }

        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, match.Name), new Claim(ClaimTypes.Role, match.Role)],
            SchemeName);

        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";

        return WriteProblemAsync(StatusCodes.Status401Unauthorized, "Unauthorized",
            "Send a valid operator token as 'Authorization: Bearer <token>'.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblemAsync(StatusCodes.Status403Forbidden, "Forbidden",
            "This token's role may read but not change anything; a maintainer token is required.");

    [LoggerMessage(EventId = 410, Level = LogLevel.Warning,
        Message = "Operator request {Method} {Path} from {RemoteAddress} refused: the Authorization header is not a bearer token")]
    private static partial void LogNotBearer(ILogger logger, string method, PathString path, string? remoteAddress);

    [LoggerMessage(EventId = 411, Level = LogLevel.Warning,
        Message = "Operator request {Method} {Path} from {RemoteAddress} refused: the bearer token matches no configured token")]
    private static partial void LogUnknownToken(ILogger logger, string method, PathString path, string? remoteAddress);

    private async Task WriteProblemAsync(int status, string title, string detail)
    {
        Response.StatusCode = status;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}

internal static class OperatorAuthenticationSetup
{
    public static IServiceCollection AddOperatorAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OperatorTokenOptions>()
            .Bind(configuration.GetSection(OperatorTokenOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<OperatorTokenOptions>, OperatorTokenValidator>();
        services.AddSingleton<IPostConfigureOptions<OperatorTokenOptions>, OperatorTokenHashing>();
        services.AddSingleton<OperatorTokenStore>();
        services.AddAuthentication(OperatorTokenHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, OperatorTokenHandler>(OperatorTokenHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(OperatorRoles.CanRead, p => p.RequireRole(OperatorRoles.Observer, OperatorRoles.Maintainer))
            .AddPolicy(OperatorRoles.CanChange, p => p.RequireRole(OperatorRoles.Maintainer));

        return services;
    }
}
