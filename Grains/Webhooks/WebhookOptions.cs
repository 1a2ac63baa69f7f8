using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Webhooks;

/// <summary>
/// Where and how each silo sends its hosts' Failed and recovery events. Bound from <c>Fleet:Webhooks</c>.
/// Without <see cref="Url"/> webhooks are off and the silo does no work for them.
/// </summary>
public sealed class WebhookOptions
{
    public const string SectionName = "Fleet:Webhooks";

    public const int DefaultQueueCapacity = 10_000;
    public const int DefaultMaxAttempts = 8;
    public const int DefaultConcurrency = 4;
    public static readonly TimeSpan DefaultInitialBackoff = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultMaxBackoff = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The receiver (http or https); every event is POSTed here. Unset: webhooks are off.</summary>
    public Uri? Url { get; set; }

    /// <summary>The key events are signed with (HMAC-SHA256). Required with <see cref="Url"/> unless <see cref="SecretFile"/> is set.</summary>
    public string? Secret { get; set; }

    /// <summary>A file holding the key instead of <see cref="Secret"/>; a trailing line break is not part of it.</summary>
    public string? SecretFile { get; set; }

    /// <summary>Events waiting for delivery on one silo; further events are dropped and counted.</summary>
    public int QueueCapacity { get; set; } = DefaultQueueCapacity;

    /// <summary>Attempts per event, the first one included, before it is given up.</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;

    /// <summary>Wait before the second attempt; doubles with each further attempt (with jitter).</summary>
    public TimeSpan InitialBackoff { get; set; } = DefaultInitialBackoff;

    /// <summary>The longest wait between attempts, a receiver's <c>Retry-After</c> included.</summary>
    public TimeSpan MaxBackoff { get; set; } = DefaultMaxBackoff;

    /// <summary>How long one attempt may take before it counts as failed and is retried.</summary>
    public TimeSpan Timeout { get; set; } = DefaultTimeout;

    /// <summary>Deliveries in flight at once on one silo, so that one slow event does not hold up the rest.</summary>
    public int Concurrency { get; set; } = DefaultConcurrency;

    /// <summary>True when a receiver is configured.</summary>
    public bool Enabled => Url is not null;

    /// <summary>
    /// The signing key's bytes: <see cref="Secret"/>, or the contents of <see cref="SecretFile"/> without a
    /// trailing line break. Throws <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> when
    /// the file cannot be read.
    /// </summary>
    public byte[] SecretBytes() =>
        Encoding.UTF8.GetBytes(
            !string.IsNullOrEmpty(Secret) ? Secret : string.IsNullOrWhiteSpace(SecretFile) ? string.Empty : File.ReadAllText(SecretFile).TrimEnd('\r', '\n'));
}

/// <summary>
/// Refuses to start with a webhook receiver that could never be reached, a missing or short key, or retry
/// settings that never end or never wait, naming the key.
/// </summary>
internal sealed class WebhookOptionsValidator(IConfiguration configuration) : IValidateOptions<WebhookOptions>
{
    /// <summary>Shorter keys are guessable; 16 bytes is the least HMAC-SHA256 guidance accepts.</summary>
    public const int MinSecretBytes = 16;

    private static readonly string[] s_keys =
    [
        nameof(WebhookOptions.Url), nameof(WebhookOptions.Secret), nameof(WebhookOptions.SecretFile),
        nameof(WebhookOptions.QueueCapacity), nameof(WebhookOptions.MaxAttempts), nameof(WebhookOptions.InitialBackoff),
        nameof(WebhookOptions.MaxBackoff), nameof(WebhookOptions.Timeout), nameof(WebhookOptions.Concurrency),
    ];

    private static readonly HashSet<string> s_known = new(s_keys, StringComparer.OrdinalIgnoreCase);

    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(2);

    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var errors = new List<string>();
        var section = WebhookOptions.SectionName;
        SettingChecks.RejectUnknownKeys(errors, configuration, section, s_known, string.Join(", ", s_keys));
        if (options.Url is not null and not { IsAbsoluteUri: true, Scheme: "http" or "https" })
        {
            errors.Add($"{section}:Url must be an absolute http or https address (was '{options.Url}').");
        }

        if (options.Enabled)
        {
            RequireSecret(errors, section, options);
        }

        if (options.QueueCapacity is < 1 or > 1_000_000)
        {
            errors.Add($"{section}:QueueCapacity must be between 1 and 1000000 (was {options.QueueCapacity}).");
        }

        if (options.Concurrency is < 1 or > 64)
        {
            errors.Add($"{section}:Concurrency must be between 1 and 64 (was {options.Concurrency}).");
        }

        SettingChecks.RequireAttempts(errors, $"{section}:MaxAttempts", options.MaxAttempts);
        SettingChecks.RequirePositive(errors, $"{section}:InitialBackoff", options.InitialBackoff);
        if (options.MaxBackoff < options.InitialBackoff)
        {
            errors.Add($"{section}:MaxBackoff ({options.MaxBackoff}) must be at least InitialBackoff ({options.InitialBackoff}).");
        }

        SettingChecks.RequirePositive(errors, $"{section}:Timeout", options.Timeout);
        if (options.Timeout > MaxTimeout)
        {
            errors.Add($"{section}:Timeout must be at most {MaxTimeout} (was {options.Timeout}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    // The key itself never appears in a message, only where it should come from and what is wrong with it.
    private static void RequireSecret(List<string> errors, string section, WebhookOptions options)
    {
        var inline = !string.IsNullOrEmpty(options.Secret);
        var file = !string.IsNullOrWhiteSpace(options.SecretFile);
        if (inline && file)
        {
            errors.Add($"{section}:Secret and {section}:SecretFile are both set; set one.");
            return;
        }

        if (!inline && !file)
        {
            errors.Add($"{section}:Secret (or {section}:SecretFile) is required when {section}:Url is set.");
            return;
        }

        try
        {
            var length = options.SecretBytes().Length;
            if (length < MinSecretBytes)
            {
                var key = inline ? "Secret" : "SecretFile";
                errors.Add($"{section}:{key} must hold at least {MinSecretBytes} bytes (has {length}).");
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{section}:SecretFile cannot be read ('{options.SecretFile}': {exception.Message}).");
        }
    }
}
