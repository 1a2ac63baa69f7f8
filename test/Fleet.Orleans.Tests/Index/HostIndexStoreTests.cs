using Azure.Data.Tables;
using Fleet.Contracts;
using Fleet.Grains;
using Fleet.Grains.Index;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Fleet.Tests.Index;

/// <summary>Index rows in Azurite: the team and OS-settings columns, and rows written before they existed.</summary>
public sealed class HostIndexStoreTests
{
    private static readonly DateTimeOffset s_at = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private readonly string _serviceId = $"idx-{Guid.NewGuid():N}"[..16];
    private readonly TableServiceClient _tables = new(TestStorage.ConnectionString);

    private HostIndexStore Store() => new(_tables, Options.Create(new ClusterOptions { ServiceId = _serviceId }));

    [Fact]
    public async Task SaveThenLoad_KeepsTeamAndOsSettings()
    {
        var entry = new HostIndexEntry(
            "HOST-A", 7, RefetchStatus.Verified, "darwin", "15.1", "mac-a", "SER-A", s_at, s_at, null,
            TeamId: "team-red", OsSettings: ProfileStatus.Pending);
        var noTeam = entry with { HostId = "HOST-B", TeamId = null, OsSettings = ProfileStatus.None };

        await Store().SaveAsync(3, [entry, noTeam], TestContext.Current.CancellationToken);
        var loaded = await Store().LoadAsync(3, TestContext.Current.CancellationToken);

        Assert.Equal([entry, noTeam], loaded.OrderBy(e => e.HostId, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Load_OfARowWithoutTheNewColumns_ReadsNoTeamAndNone()
    {
        var table = _tables.GetTableClient(FleetStorage.IndexTable);
        await table.CreateIfNotExistsAsync(TestContext.Current.CancellationToken);
        await table.UpsertEntityAsync(
            new TableEntity($"{_serviceId}-005", "HOST-OLD")
            {
                ["Revision"] = 2L,
                ["Status"] = (int)RefetchStatus.Pending,
                ["StatusChangedAt"] = s_at,
            },
            cancellationToken: TestContext.Current.CancellationToken);

        var entry = Assert.Single(await Store().LoadAsync(5, TestContext.Current.CancellationToken));

        Assert.Equal(("HOST-OLD", RefetchStatus.Pending), (entry.HostId, entry.Status));
        Assert.Null(entry.TeamId);
        Assert.Equal(ProfileStatus.None, entry.OsSettings);
    }
}
