using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Fleet.Cli;

/// <summary>How times, durations and cells read on the console.</summary>
internal static class Render
{
    public static string Time(DateTimeOffset? time) =>
        time is null ? "never" : time.Value.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string Duration(TimeSpan span) =>
        span < TimeSpan.Zero ? "0s"
        : span.TotalHours >= 1 ? $"{(int)span.TotalHours}h{span.Minutes:00}m{span.Seconds:00}s"
        : span.TotalMinutes >= 1 ? $"{span.Minutes}m{span.Seconds:00}s"
        : $"{span.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)}s";

    public static string Number(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>A literal cell: host names and reasons may hold '[' that markup would read.</summary>
    public static IRenderable Cell(string? value) => new Text(value ?? "-");

    public static string Reason(ReasonJson? reason) => reason is null ? "-" : $"{reason.Code}: {reason.Message}";

    /// <summary>A line of text or JSON written unwrapped, whatever the console's width, so logs and scripts get it whole.</summary>
    public static void Line(IAnsiConsole console, string text) => console.Profile.Out.Writer.WriteLine(text);
}
