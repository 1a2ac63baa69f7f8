using Microsoft.Extensions.Options;

namespace Fleet.Api.StatusPage;

/// <summary>The operator status page. Bound from <c>Fleet:StatusPage</c>.</summary>
public sealed class StatusPageOptions
{
    public const string SectionName = "Fleet:StatusPage";

    /// <summary>
    /// Absolute http(s) URL of the silo's Orleans Dashboard, linked from the page; null leaves the link out.
    /// </summary>
    public string? DashboardUrl { get; set; }
}

internal sealed class StatusPageOptionsValidator : IValidateOptions<StatusPageOptions>
{
    public ValidateOptionsResult Validate(string? name, StatusPageOptions options)
    {
        if (options.DashboardUrl is not { } url)
        {
            return ValidateOptionsResult.Success;
        }

        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{StatusPageOptions.SectionName}:DashboardUrl must be an absolute http or https URL (was '{url}').");
    }
}
