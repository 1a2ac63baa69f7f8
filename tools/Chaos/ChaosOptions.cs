using System.Globalization;

namespace Fleet.Chaos;

/// <summary>The loopback ports of one chaos run; each process gets its own, from the environment or the defaults.</summary>
internal sealed record ChaosPorts(
    int Api, int SiloHttp, int Silo, int Gateway, int AzuriteBlob, int AzuriteQueue, int AzuriteTable)
{
    /// <summary>Reads <c>FLEET_CHAOS_API_PORT</c>, <c>FLEET_CHAOS_SILO_HTTP_PORT</c> (silo i uses it + i) and the like.</summary>
    public static bool TryRead(Func<string, string?> environment, out ChaosPorts ports, out string? error)
    {
        string? problem = null;
        int Read(string name, int fallback)
        {
            var text = environment(name);
            if (text is null)
            {
                return fallback;
            }

            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65535)
            {
                return port;
            }

            problem ??= $"{name} must be a port number, not '{text}'";

            return fallback;
        }

        ports = new ChaosPorts(
            Read("FLEET_CHAOS_API_PORT", 5590),
            Read("FLEET_CHAOS_SILO_HTTP_PORT", 8590),
            Read("FLEET_CHAOS_SILO_PORT", 11590),
            Read("FLEET_CHAOS_GATEWAY_PORT", 30590),
            Read("FLEET_CHAOS_AZURITE_BLOB_PORT", 10233),
            Read("FLEET_CHAOS_AZURITE_QUEUE_PORT", 10234),
            Read("FLEET_CHAOS_AZURITE_TABLE_PORT", 10235));
        error = problem;

        return error is null;
    }
}

/// <summary>What <c>tools/chaos</c> passes on: the form, the repository and the data folder.</summary>
internal sealed record ChaosOptions(ChaosForm Form, string Root, string DataFolder, ChaosPorts Ports, string? DocsFile)
{
    public const string Usage = """
        Usage: tools/chaos [--short] [--data DIR] [--write-docs]

        Starts Azurite, two silos and the Api on 127.0.0.1, drives them with the agent simulator and operator
        requests, and inflicts one fault after another: kill -9 of a silo, SIGTERM of the Api, Azurite stopped
        and restarted on its data, agents with skewed clocks, and a reconnect storm. After each fault it checks,
        from the API and from Azure Table storage, that every accepted refetch ended by its deadline plus the
        slack, that no accepted job or profile was lost, that API, storage and index agree on each host, and that
        the counts add up. Exit code 1 when an invariant fails.

          --short       the CI form: 300 hosts and shorter phases (about 4-5 minutes)
          --data DIR    folder for Azurite's data, the logs and chaos-result.json (default .data/chaos/<form>)
          --write-docs  also write the result table into docs/reliability.md between its chaos markers

        Ports (defaults in brackets): FLEET_CHAOS_API_PORT [5590], FLEET_CHAOS_SILO_HTTP_PORT [8590],
        FLEET_CHAOS_SILO_PORT [11590], FLEET_CHAOS_GATEWAY_PORT [30590] (silo i adds i to each),
        FLEET_CHAOS_AZURITE_BLOB_PORT, _QUEUE_PORT, _TABLE_PORT [10233-10235].
        """;

    public static (ChaosOptions? Options, string? Error) Parse(
        IReadOnlyList<string> args, string root, Func<string, string?> environment)
    {
        var form = ChaosForm.Full;
        string? data = null;
        var docs = false;
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--short":
                    form = ChaosForm.Short;
                    break;
                case "--data" when i + 1 < args.Count:
                    data = Path.GetFullPath(args[++i]);
                    break;
                case "--write-docs":
                    docs = true;
                    break;
                default:
                    return (null, $"unknown option '{args[i]}'");
            }
        }

        if (!ChaosPorts.TryRead(environment, out var ports, out var error))
        {
            return (null, error);
        }

        data ??= Path.Combine(root, ".data", "chaos", form.Name);
        var docsFile = docs ? Path.Combine(root, "docs", "reliability.md") : null;

        return (new ChaosOptions(form, root, data, ports, docsFile), null);
    }
}
