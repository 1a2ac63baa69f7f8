using Fleet.Chaos;

var root = FindRoot();
var (options, error) = ChaosOptions.Parse(args, root, Environment.GetEnvironmentVariable);
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(ChaosOptions.Usage);

    return 0;
}

if (options is null)
{
    Console.Error.WriteLine($"error: {error}\n{ChaosOptions.Usage}");

    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C stops the suite, which then stops every process it started.
    e.Cancel = true;
    cancel.Cancel();
};

var started = DateTimeOffset.UtcNow;
ChaosRunResult run;
try
{
    run = await new ChaosSuite(options, Console.Out).RunAsync(cancel.Token);
}
catch (Exception exception) when (exception is InvalidOperationException or TimeoutException or OperationCanceledException)
{
    Console.Error.WriteLine($"error: the chaos run stopped: {exception.Message}");

    return 2;
}

var json = Path.Combine(options.DataFolder, "chaos-result.json");
var markdown = ChaosReport.Markdown(run, started);
await File.WriteAllTextAsync(json, ChaosReport.Json(run));
await File.WriteAllTextAsync(Path.Combine(options.DataFolder, "chaos-result.md"), markdown);
if (options.DocsFile is { } docs)
{
    ChaosReport.WriteInto(docs, markdown);
}

Console.WriteLine();
Console.WriteLine(ChaosReport.Table(run));
Console.WriteLine($"Result: {json}");

return run.Passed ? 0 : 1;

// The repository root holds Fleet.Orleans.sln; the tool runs from its build output below it, or from the root.
static string FindRoot()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Fleet.Orleans.sln")))
            {
                return folder.FullName;
            }
        }
    }

    return Environment.CurrentDirectory;
}
