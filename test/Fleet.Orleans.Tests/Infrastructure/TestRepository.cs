namespace Fleet.Tests.Infrastructure;

/// <summary>Where the repository is, for tests that run its scripts or write beside its results.</summary>
internal static class TestRepository
{
    /// <summary>The folder holding Fleet.Orleans.sln above the test output, or the output folder when there is none.</summary>
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Fleet.Orleans.sln")))
            {
                return dir.FullName;
            }
        }

        return AppContext.BaseDirectory;
    }
}
