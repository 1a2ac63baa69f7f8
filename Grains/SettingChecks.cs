using Microsoft.Extensions.Configuration;

namespace Fleet.Grains;

/// <summary>
/// The checks the options validators share. Each adds a sentence naming the full configuration key, so a
/// bad setting stops start-up with a message that says what to fix.
/// </summary>
internal static class SettingChecks
{
    public static void RequirePositive(List<string> errors, string key, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be positive (was {value}).");
        }
    }

    public static void RequireAttempts(List<string> errors, string key, int value)
    {
        if (value is < 1 or > 100)
        {
            errors.Add($"{key} must be between 1 and 100 (was {value}).");
        }
    }

    public static void RequireBetween(List<string> errors, string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{key} must be between {min} and {max} (was {value}).");
        }
    }

    /// <summary>
    /// Reads the raw section: a misspelt key binds nothing and would leave a default in force without a word.
    /// <paramref name="use"/> lists the keys that exist, as the message shows them.
    /// </summary>
    public static void RejectUnknownKeys(
        List<string> errors, IConfiguration configuration, string section, IReadOnlySet<string> known, string use)
    {
        foreach (var setting in configuration.GetSection(section).GetChildren())
        {
            if (!known.Contains(setting.Key))
            {
                errors.Add($"{section}:{setting.Key} is not a setting; use {use}.");
            }
        }
    }
}
