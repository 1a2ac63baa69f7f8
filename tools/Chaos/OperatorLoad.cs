using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace Fleet.Chaos;

/// <summary>
/// What a maintainer does while faults strike: every second, refetches of random hosts and a read of one;
/// every 5 s a profile declaration for the chaos team; every 15 s a bulk refetch job of random hosts. Whatever
/// the Api accepts goes into the <see cref="Ledger"/>. The hosts to pick from are read at each pick, since a phase
/// may add hosts once they enrolled.
/// </summary>
[SuppressMessage("Security", "CA5394", Justification = "Picks hosts to load; no secret depends on it.")]
internal sealed class OperatorLoad(OperatorClient client, Ledger ledger, ChaosForm form, string phase, Func<IReadOnlyList<string>> hosts, int seed)
{
    /// <summary>The team whose profiles the suite declares; no host belongs to it, so no device is touched.</summary>
    public const string Team = "chaos";

    public const int JobRate = 50;

    private const int ProfileEveryTicks = 5;

    private const int JobEveryTicks = 15;

    private readonly Random _random = new(seed);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        for (var tick = 0; !cancellationToken.IsCancellationRequested; tick++)
        {
            var work = new List<Task>();
            for (var i = 0; i < form.RefetchesPerSecond; i++)
            {
                work.Add(RefetchAsync(Pick()));
            }

            work.Add(client.GetHostAsync(Pick()));
            if (tick % ProfileEveryTicks == 0)
            {
                work.Add(DeclareProfileAsync(tick));
            }

            if (tick % JobEveryTicks == 0)
            {
                work.Add(StartJobAsync([.. Enumerable.Range(0, form.JobHosts).Select(_ => Pick()).Distinct(StringComparer.Ordinal)]));
            }

            await Task.WhenAll(work);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private string Pick()
    {
        var pool = hosts();

        return pool[_random.Next(pool.Count)];
    }

    private async Task RefetchAsync(string hostId)
    {
        var (status, body) = await client.RefetchAsync(hostId);
        if (status == HttpStatusCode.Accepted && body?["epoch"]?.GetValue<int>() is { } epoch
            && body["requested_at"]?.GetValue<DateTimeOffset>() is { } requestedAt)
        {
            ledger.Add(new AcceptedRefetch(phase, hostId, epoch, requestedAt));
        }
    }

    private async Task DeclareProfileAsync(int tick)
    {
        var identifier = $"com.fleet-orleans.chaos.{phase}.{tick.ToString(CultureInfo.InvariantCulture)}";
        var checksum = $"sha256-{phase}-{tick.ToString(CultureInfo.InvariantCulture)}";
        var (status, _) = await client.PutProfileAsync(Team, identifier, checksum);
        if (status == HttpStatusCode.OK)
        {
            ledger.Add(new AcceptedProfile(phase, identifier, checksum));
        }
    }

    private async Task StartJobAsync(List<string> hostIds)
    {
        var (status, body) = await client.StartJobAsync(hostIds, JobRate);
        if (status == HttpStatusCode.Accepted && body?["job_id"]?.GetValue<string>() is { } jobId)
        {
            ledger.Add(new AcceptedJob(phase, jobId, hostIds.Count, JobRate, DateTimeOffset.UtcNow));
        }
    }
}
