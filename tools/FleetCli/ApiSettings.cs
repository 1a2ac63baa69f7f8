using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Fleet.Cli;

/// <summary>Where the API is and how to prove who the operator is; every command takes these.</summary>
public class ApiSettings : CommandSettings
{
    public const string UrlVariable = "FLEET_API_URL";
    public const string TokenVariable = "FLEET_API_TOKEN";
    public const string DefaultUrl = "http://127.0.0.1:5080";

    [CommandOption("--url <URL>")]
    [Description("The API's base URL (default: $FLEET_API_URL, else " + DefaultUrl + ").")]
    public string? Url { get; init; }

    [CommandOption("--token <TOKEN>")]
    [Description("Operator bearer token (default: $FLEET_API_TOKEN). Prefer the variable or --token-file: arguments show in process lists.")]
    public string? Token { get; init; }

    [CommandOption("--token-file <PATH>")]
    [Description("Read the operator token from the first line of this file.")]
    public string? TokenFile { get; init; }

    [CommandOption("--no-progress")]
    [Description("No live progress bar: print a progress line every few seconds instead.")]
    public bool NoProgress { get; init; }

    public override ValidationResult Validate()
    {
        if (Token is not null && TokenFile is not null)
        {
            return ValidationResult.Error("give --token or --token-file, not both");
        }

        return Url is not null && !IsHttpUrl(Url)
            ? ValidationResult.Error($"--url '{Url}' is not an absolute http:// or https:// URL")
            : ValidationResult.Success();
    }

    internal static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
