namespace Fleet.Cli;

/// <summary>The exit codes the tool documents.</summary>
public static class ExitCodes
{
    /// <summary>Done; a wait ended verified, or a job completed with no failed host.</summary>
    public const int Success = 0;

    /// <summary>The API refused or could not be reached, or a wait ended failed, cancelled or with failed hosts.</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments, or a wait ran out of time.</summary>
    public const int UsageOrTimeout = 2;

    /// <summary>Ctrl+C: the tool stopped waiting and left the job running.</summary>
    public const int Detached = 130;
}

/// <summary>A failure the tool explains in one line and exits on, without a stack trace.</summary>
public class CliException(string message, int exitCode = ExitCodes.Failed) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>An application/problem+json answer (or any other error status) from the API.</summary>
public sealed class ApiProblemException(int status, string title, string? detail)
    : CliException(Describe(status, title, detail))
{
    public int Status { get; } = status;

    private static string Describe(int status, string title, string? detail)
    {
        var text = string.IsNullOrWhiteSpace(detail) ? title : $"{title}: {detail}";

        return status switch
        {
            401 => $"{text} (give a token with the observer role to read, maintainer to change: --token, --token-file or FLEET_API_TOKEN)",
            403 => $"{text} (this needs a token with the maintainer role)",
            _ => text,
        };
    }
}
