using Microsoft.Extensions.Options;

namespace Fleet.Api.Events;

/// <summary>The Api's live event streams. Bound from <c>Fleet:EventStreams</c>.</summary>
public sealed class EventStreamOptions
{
    public const string SectionName = "Fleet:EventStreams";

    public static readonly TimeSpan DefaultKeepAliveInterval = TimeSpan.FromSeconds(15);
    public const int DefaultClientBuffer = 1_000;
    public static readonly TimeSpan DefaultResubscribeBackoff = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultMaxResubscribeBackoff = TimeSpan.FromSeconds(30);

    /// <summary>How long a stream may be quiet before it gets a comment line, so proxies keep it open.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = DefaultKeepAliveInterval;

    /// <summary>Events held for one slow client; beyond this its oldest events are dropped and counted.</summary>
    public int ClientBuffer { get; set; } = DefaultClientBuffer;

    /// <summary>Wait before subscribing again after the event hub could not be reached; doubles on each failure.</summary>
    public TimeSpan ResubscribeBackoff { get; set; } = DefaultResubscribeBackoff;

    /// <summary>The most <see cref="ResubscribeBackoff"/> can grow to.</summary>
    public TimeSpan MaxResubscribeBackoff { get; set; } = DefaultMaxResubscribeBackoff;
}

/// <summary>Refuses to start with stream settings that could not work, naming the key.</summary>
internal sealed class EventStreamOptionsValidator(IConfiguration configuration) : IValidateOptions<EventStreamOptions>
{
    private static readonly string[] s_keys =
    [
        nameof(EventStreamOptions.KeepAliveInterval), nameof(EventStreamOptions.ClientBuffer),
        nameof(EventStreamOptions.ResubscribeBackoff), nameof(EventStreamOptions.MaxResubscribeBackoff),
    ];

    public ValidateOptionsResult Validate(string? name, EventStreamOptions options)
    {
        var section = EventStreamOptions.SectionName;

        // A misspelt key binds nothing and would leave a default in force without a word.
        var errors = configuration.GetSection(section).GetChildren()
            .Where(setting => !s_keys.Contains(setting.Key, StringComparer.OrdinalIgnoreCase))
            .Select(setting => $"{section}:{setting.Key} is not a setting; use {string.Join(", ", s_keys)}.")
            .ToList();
        if (options.KeepAliveInterval < TimeSpan.FromMilliseconds(100) || options.KeepAliveInterval > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{section}:KeepAliveInterval must be from 00:00:00.1 to 00:05:00 (was {options.KeepAliveInterval}).");
        }

        if (options.ClientBuffer is < 1 or > 100_000)
        {
            errors.Add($"{section}:ClientBuffer must be between 1 and 100000 (was {options.ClientBuffer}).");
        }

        if (options.ResubscribeBackoff <= TimeSpan.Zero)
        {
            errors.Add($"{section}:ResubscribeBackoff must be positive (was {options.ResubscribeBackoff}).");
        }

        if (options.MaxResubscribeBackoff < options.ResubscribeBackoff)
        {
            errors.Add(
                $"{section}:MaxResubscribeBackoff ({options.MaxResubscribeBackoff}) must be at least ResubscribeBackoff ({options.ResubscribeBackoff}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
