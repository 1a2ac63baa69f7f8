using System.Globalization;
using Fleet.Bench.Scenarios;
using ScottPlot;

namespace Fleet.Bench.Report;

/// <summary>The report's PNG charts, drawn with ScottPlot (SkiaSharp). Each method returns the file name it wrote.</summary>
internal static class Charts
{
    private const int Width = 800;
    private const int Height = 450;

    public static string CheckIns(string folder, CheckInResult r) => Bars(
        folder,
        "checkin-throughput.png",
        "Agent check-ins (requests/s, higher is better)",
        "requests/s",
        [
            ("bare read", r.BaselineRate),
            .. r.FloorReads is { Count: > 0 } ? [("floor: bare + grain call", r.FloorRate)] : Array.Empty<(string, double)>(),
            .. r.AskingReads is { Count: > 0 } ? [("read asking the host", r.AskingRate)] : Array.Empty<(string, double)>(),
            ("distributed/read (leased)", r.ReadRate),
            ("bare (write body)", r.BaselineWrite.PerSecond),
            ("distributed/write", r.Write.PerSecond),
        ]);

    public static string Cycles(string folder, CycleResult r) => Bars(
        folder,
        "refetch-cycle.png",
        "Refetch cycles against Azurite's raw write rate (per second)",
        "per second",
        [
            ("Azurite raw writes", r.RawWrites.PerSecond),
            ("storage writes in cycles", r.StorageWritesPerSecond),
            ("refetch cycles", r.Cycles.PerSecond),
        ]);

    public static string ScaleMemory(string folder, ScaleResult r)
    {
        var plot = new Plot();
        double[] xs = [.. r.Points.Select(p => (double)p.Hosts)];
        var workingSet = plot.Add.Scatter(xs, [.. r.Points.Select(p => p.Active.WorkingSet / 1048576.0)]);
        workingSet.LegendText = "working set, all active (MiB)";
        var heap = plot.Add.Scatter(xs, [.. r.Points.Select(p => p.Active.ManagedHeap / 1048576.0)]);
        heap.LegendText = "managed heap, all active (MiB)";
        var fresh = plot.Add.Scatter(xs, [.. r.Points.Select(p => p.Warm.WorkingSet / 1048576.0)]);
        fresh.LegendText = "working set, restarted silo before activation (MiB)";
        fresh.LinePattern = LinePattern.Dashed;
        if (r.AfterIdle is { } idle)
        {
            var after = plot.Add.Scatter(new[] { xs[^1] }, new[] { idle.WorkingSet / 1048576.0 });
            after.LegendText = "working set after idle collection (MiB)";
            after.MarkerSize = 12;
            after.MarkerShape = MarkerShape.FilledSquare;
        }

        plot.Title("Silo memory by fleet size");
        plot.XLabel("hosts (enrolled, one completed refetch)");
        plot.YLabel("MiB");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Axes.SetLimitsY(0, Math.Max(1, r.Points.Max(p => p.Active.WorkingSet) / 1048576.0 * 1.15));

        return Save(plot, folder, "scale-memory.png");
    }

    public static string Deadline(string folder, DeadlineRound round, string file)
    {
        var plot = new Plot();
        var sorted = round.LatenessMs.Order().ToArray();
        if (sorted.Length > 0)
        {
            // An empirical CDF, thinned to at most 2,000 points.
            var step = Math.Max(1, sorted.Length / 2000);
            var xs = new List<double>();
            var ys = new List<double>();
            for (var i = 0; i < sorted.Length; i += step)
            {
                xs.Add(sorted[i]);
                ys.Add((i + 1) / (double)sorted.Length * 100);
            }

            xs.Add(sorted[^1]);
            ys.Add(100);
            var cdf = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
            cdf.MarkerSize = 0;
            cdf.LegendText = string.Create(CultureInfo.InvariantCulture, $"{round.Accepted} hosts, p99 {round.P99:0} ms");
        }

        var limit = plot.Add.VerticalLine(1000);
        limit.LinePattern = LinePattern.Dashed;
        limit.LegendText = "target p99 ≤ 1 s (without restart)";
        plot.Title($"Failed − deadline, {round.Name} (cumulative %)");
        plot.XLabel("ms after the deadline");
        plot.YLabel("% of hosts failed");
        plot.ShowLegend(Alignment.LowerRight);

        return Save(plot, folder, file);
    }

    public static string SteadyProbes(string folder, SteadyResult r)
    {
        var plot = new Plot();
        var all = r.Probes.Concat(r.Holds.Select(h => h.Result)).ToList();
        var probes = plot.Add.Scatter(
            r.Probes.Select(p => (double)r.Equivalent(p)).ToArray(),
            r.Probes.Select(p => Math.Min(p.Stats.P99, 5000)).ToArray());
        probes.LegendText = "p99 in a probe";
        var holds = plot.Add.Scatter(
            r.Holds.Select(h => (double)r.Equivalent(h.Result)).ToArray(),
            r.Holds.Select(h => Math.Min(h.Result.Stats.P99, 5000)).ToArray());
        holds.LegendText = "p99 over the full window";
        holds.LineWidth = 0;
        holds.MarkerSize = 12;
        holds.MarkerShape = MarkerShape.FilledSquare;
        var limit = plot.Add.HorizontalLine(SteadyResult.P99LimitMs);
        limit.LinePattern = LinePattern.Dashed;
        limit.LegendText = "100 ms";
        plot.Title("Steady fleet: p99 check-in latency by fleet size (10 s interval)");
        plot.XLabel("hosts checking in every 10 s (as a check-in rate)");
        plot.YLabel("p99 ms (from when the check-in was due)");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Axes.SetLimitsY(0, Math.Max(150, all.Max(p => Math.Min(p.Stats.P99, 5000)) * 1.1));

        return Save(plot, folder, "steady-fleet-probes.png");
    }

    public static string SteadyHold(string folder, SteadyResult r, PacedResult hold)
    {
        var plot = new Plot();
        var windows = hold.Windows.Where(w => w.Ok > 0).ToList();
        double[] xs = [.. windows.Select(w => w.Start.TotalSeconds)];
        var p99 = plot.Add.Scatter(xs, [.. windows.Select(w => w.P99)]);
        p99.LegendText = "p99";
        var p50 = plot.Add.Scatter(xs, [.. windows.Select(w => w.P50)]);
        p50.LegendText = "p50";
        var limit = plot.Add.HorizontalLine(SteadyResult.P99LimitMs);
        limit.LinePattern = LinePattern.Dashed;
        limit.LegendText = "100 ms";
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"Steady fleet of {r.Equivalent(hold):N0} hosts at 10 s: latency per 10 s window"));
        plot.XLabel("seconds (the first window is the warm-up lap)");
        plot.YLabel("ms");
        plot.ShowLegend(Alignment.UpperLeft);

        return Save(plot, folder, "steady-fleet-hold.png");
    }

    private static string Bars(string folder, string file, string title, string axis, (string Label, double Value)[] values)
    {
        var plot = new Plot();
        var bars = values.Select((v, i) => new Bar
        {
            Position = i,
            Value = v.Value,
            Label = v.Value.ToString("N0", CultureInfo.InvariantCulture),
            FillColor = Colors.Category10[i % 10],
        }).ToList();
        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. values.Select((_, i) => (double)i)], [.. values.Select(v => v.Label)]);
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsY(0, Math.Max(1, values.Max(v => v.Value) * 1.15));
        plot.Title(title);
        plot.YLabel(axis);

        return Save(plot, folder, file);
    }

    private static string Save(Plot plot, string folder, string file)
    {
        Directory.CreateDirectory(folder);
        plot.SavePng(Path.Combine(folder, file), Width, Height);

        return file;
    }
}
