using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Fleet.Silo;

/// <summary>
/// Checks a process's configuration before it starts anything, so that a wrong setting ends the process with
/// one readable line per problem and exit code <see cref="ExitCode"/> rather than an abort with a stack trace.
/// The Api leaves validation to its host's start instead, because a test host must see the
/// validation exception itself.
/// </summary>
public static class StartupConfiguration
{
    /// <summary>EX_CONFIG from sysexits.h: the configuration is wrong.</summary>
    public const int ExitCode = 78;

    /// <summary>Runs every options validation registered with <c>ValidateOnStart</c>; true when all pass.</summary>
    public static bool IsValid(IServiceProvider services, TextWriter errors)
    {
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
            return true;
        }
        catch (OptionsValidationException exception)
        {
            Report(errors, [exception]);
        }
        catch (AggregateException exception) when (exception.InnerExceptions.All(e => e is OptionsValidationException))
        {
            Report(errors, exception.InnerExceptions.Cast<OptionsValidationException>());
        }

        return false;
    }

    private static void Report(TextWriter errors, IEnumerable<OptionsValidationException> exceptions)
    {
        errors.WriteLine("The configuration is not valid; nothing was started:");
        foreach (var failure in exceptions.SelectMany(e => e.Failures).Distinct(StringComparer.Ordinal))
        {
            errors.WriteLine($"  - {failure}");
        }
    }
}
