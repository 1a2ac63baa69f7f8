using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Fleet.Cli;

/// <summary><c>hosts list</c>: a page of hosts, or every page with --all.</summary>
public sealed class HostsListCommand(CliContext context) : ApiCommand<HostsListCommand.Settings>(context)
{
    public sealed class Settings : HostFilterSettings
    {
        [CommandOption("--limit <N>")]
        [Description("Hosts per page, 1 to 500 (default 50).")]
        public int? Limit { get; init; }

        [CommandOption("--cursor <CURSOR>")]
        [Description("Start at this next_cursor of an earlier page.")]
        public string? Cursor { get; init; }

        [CommandOption("--all")]
        [Description("Follow next_cursor to the last page.")]
        public bool All { get; init; }

        [CommandOption("--json")]
        [Description("Print JSON ({\"hosts\": […], \"total\": N, \"next_cursor\": …}) instead of a table.")]
        public bool Json { get; init; }

        public override ValidationResult Validate() =>
            Limit is < 1 or > 500 ? ValidationResult.Error("--limit must be between 1 and 500") : base.Validate();
    }

    protected override async Task<int> RunAsync(FleetApi api, Settings settings)
    {
        var rows = new JsonArray();
        var cursor = settings.Cursor;
        HostPageJson page;
        do
        {
            var raw = await api.GetAsync<JsonObject>(PagePath(settings, cursor), Context.Interrupted);
            page = raw.Deserialize<HostPageJson>(FleetApi.Json)!;
            foreach (var row in raw["hosts"]!.AsArray())
            {
                rows.Add(row?.DeepClone());
            }

            cursor = page.NextCursor;
        }
        while (settings.All && cursor is not null);

        if (settings.Json)
        {
            var body = new JsonObject { ["hosts"] = rows, ["total"] = page.Total, ["next_cursor"] = cursor };
            Render.Line(Context.Console, body.ToJsonString(FleetApi.Json));

            return ExitCodes.Success;
        }

        var hosts = rows.Deserialize<List<HostRowJson>>(FleetApi.Json)!;
        Context.Console.Write(Table(hosts));
        var more = cursor is null ? string.Empty : $"; more with --all, or --cursor {cursor}";
        Render.Line(Context.Console, $"{hosts.Count} of {page.Total} matching hosts{more}");

        return ExitCodes.Success;
    }

    private static string PagePath(Settings settings, string? cursor)
    {
        var query = settings.QueryParameters().ToList();
        if (settings.Limit is { } limit)
        {
            query.Add(KeyValuePair.Create("limit", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (cursor is not null)
        {
            query.Add(KeyValuePair.Create("cursor", cursor));
        }

        var text = string.Join('&', query.Select(p => $"{p.Key}={Uri.EscapeDataString(p.Value)}"));

        return text.Length == 0 ? "api/v1/hosts" : $"api/v1/hosts?{text}";
    }

    private static Table Table(IEnumerable<HostRowJson> hosts)
    {
        var table = new Table().Border(TableBorder.Simple)
            .AddColumns("HOST ID", "HOSTNAME", "SERIAL", "PLATFORM", "OS", "STATUS", "TEAM", "LAST SEEN");
        foreach (var h in hosts)
        {
            table.AddRow(
                Render.Cell(h.HostId), Render.Cell(h.Hostname), Render.Cell(h.Serial), Render.Cell(h.Platform),
                Render.Cell(h.OsVersion), Render.Cell(h.Status), Render.Cell(h.TeamId), Render.Cell(Render.Time(h.LastSeenAt)));
        }

        return table;
    }
}

/// <summary>The host argument of <c>hosts show</c> and <c>hosts refetch</c>.</summary>
public class HostArgumentSettings : ApiSettings
{
    [CommandArgument(0, "<HOST>")]
    [Description("Hardware UUID, serial number or hostname.")]
    public string Host { get; init; } = "";
}

/// <summary><c>hosts show</c>: one host found by UUID, serial or hostname.</summary>
public sealed class HostsShowCommand(CliContext context) : ApiCommand<HostsShowCommand.Settings>(context)
{
    public sealed class Settings : HostArgumentSettings
    {
        [CommandOption("--json")]
        [Description("Print the lookup's JSON instead of a summary.")]
        public bool Json { get; init; }
    }

    protected override async Task<int> RunAsync(FleetApi api, Settings settings)
    {
        var match = await HostLookup.FindAsync(api, settings.Host, Context.Interrupted);
        if (settings.Json)
        {
            Render.Line(Context.Console, JsonSerializer.Serialize(match, FleetApi.Json));

            return ExitCodes.Success;
        }

        var host = match.Host;
        var grid = new Grid().AddColumn().AddColumn();
        void Line(string name, string? value) => grid.AddRow(new Text(name), Render.Cell(value));
        Line("host id", host.HostId);
        Line("matched by", match.MatchedBy);
        Line("hostname", host.Details?.Hostname);
        Line("serial", host.Details?.Serial);
        Line("platform", host.Details?.Platform);
        Line("os version", host.Details?.OsVersion);
        Line("team", host.TeamId);
        Line("os settings", host.OsSettings);
        Line("enrolled", Render.Time(host.EnrolledAt));
        Line("last seen", Render.Time(host.LastSeenAt));
        Line("refetch", host.Refetch is { } r ? $"{r.Status} (epoch {r.Epoch}, requested {Render.Time(r.RequestedAt)})" : "never requested");
        if (host.Refetch?.Reason is { } reason)
        {
            Line("reason", Render.Reason(reason));
        }

        Context.Console.Write(grid);
        ShowDuplicates(match);

        return ExitCodes.Success;
    }

    private void ShowDuplicates(IdentifierMatchJson match)
    {
        if (match.OtherMatches is not { Count: > 0 } others)
        {
            return;
        }

        Context.Console.WriteLine();
        Render.Line(Context.Console, match.Note ?? $"{others.Count + 1} hosts match '{match.Host.HostId}'; the most recently seen is shown.");
        var table = new Table().Border(TableBorder.Simple).AddColumns("OTHER HOST ID", "HOSTNAME", "SERIAL", "LAST SEEN");
        foreach (var other in others)
        {
            table.AddRow(Render.Cell(other.HostId), Render.Cell(other.Hostname), Render.Cell(other.Serial), Render.Cell(Render.Time(other.LastSeenAt)));
        }

        Context.Console.Write(table);
    }
}

/// <summary>Finds a host by hardware UUID, serial number or hostname.</summary>
internal static partial class HostLookup
{
    /// <summary>
    /// A value shaped like a hardware UUID is read directly; anything else, or a UUID-shaped value no host
    /// has (a hostname can be all hex), goes through the identifier lookup.
    /// </summary>
    public static async Task<IdentifierMatchJson> FindAsync(FleetApi api, string value, CancellationToken cancellation)
    {
        if (HostIdShape().IsMatch(value))
        {
            try
            {
                var host = await api.GetAsync<HostJson>($"api/v1/hosts/{value}", cancellation);

                return new IdentifierMatchJson(host.HostId, "host_id", host, [], null);
            }
            catch (ApiProblemException e) when (e.Status == 404)
            {
                // Not a host id after all: try it as a serial or hostname below.
            }
        }

        return await api.GetAsync<IdentifierMatchJson>($"api/v1/hosts/identifier/{Uri.EscapeDataString(value)}", cancellation);
    }

    [GeneratedRegex("^[0-9A-Fa-f][0-9A-Fa-f-]{7,63}$")]
    private static partial Regex HostIdShape();
}
