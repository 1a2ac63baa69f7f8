using System.Diagnostics.CodeAnalysis;
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

    /// <summary>
    /// Runs <paramref name="build"/>, which reads settings it needs to set the process up (ports, the storage client's
    /// bounds) before any validation can run; a value there the configuration binder cannot convert is reported like a
    /// wrong one, and <paramref name="built"/> is then null.
    /// </summary>
    public static bool TryBuild<T>(Func<T> build, TextWriter errors, [NotNullWhen(true)] out T? built)
        where T : class
    {
        try
        {
            built = build();
            return true;
        }
        catch (Exception exception) when (Problems(exception) is { } problems)
        {
            Write(errors, problems);
        }

        built = null;
        return false;
    }

    /// <summary>
    /// Runs every options validation registered with <c>ValidateOnStart</c>; true when all pass. A value the
    /// configuration binder cannot convert (a time span of "garbage") is a problem like any other.
    /// </summary>
    public static bool IsValid(IServiceProvider services, TextWriter errors)
    {
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
            return true;
        }
        catch (Exception exception) when (Problems(exception) is { } problems)
        {
            Write(errors, problems);
        }

        return false;
    }

    private static void Write(TextWriter errors, List<string> problems)
    {
        errors.WriteLine("The configuration is not valid; nothing was started:");
        foreach (var problem in problems.Distinct(StringComparer.Ordinal))
        {
            errors.WriteLine($"  - {problem}");
        }
    }

    // Null when the exception is not (only) about the configuration.
    private static List<string>? Problems(Exception exception)
    {
        var problems = new List<string>();
        foreach (var inner in exception is AggregateException aggregate ? aggregate.InnerExceptions : [exception])
        {
            switch (inner)
            {
                case OptionsValidationException validation:
                    problems.AddRange(validation.Failures);
                    break;
                case InvalidOperationException { InnerException: FormatException or OverflowException or ArgumentException } binding:
                    problems.Add(binding.Message);
                    break;
                default:
                    return null;
            }
        }

        return problems;
    }
}
