using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Fleet.Contracts;
using Fleet.Tests.Api;
using Fleet.Tests.Infrastructure;
using Orleans.Core.Internal;

namespace Fleet.Tests.Profiles;

/// <summary>Teams, their members and the osquery confirmation path on the test cluster over Azurite.</summary>
public sealed class TeamProfileGrainTests(ClusterFixture fixture)
{
    private const string Firewall = "com.example.firewall";
    private const string MdmQuery = DetailQueryNames.Prefix + "mdm_config_profiles_darwin";

    private static readonly TimeSpan s_fanOut = TimeSpan.FromSeconds(10);

    private static readonly Dictionary<string, IReadOnlyDictionary<string, string>> s_mac15 = new()
    {
        ["os_version"] = new Dictionary<string, string> { ["platform"] = "darwin", ["version"] = "15.1", ["name"] = "macOS" },
    };

    private static string NewTeamId() => "team-" + Guid.NewGuid().ToString("N")[..12];

    private ITeamGrain Team(string teamId) => fixture.Grains.GetGrain<ITeamGrain>(teamId);

    private IHostGrain Host(string hostId) => fixture.Grains.GetGrain<IHostGrain>(hostId);

    private async Task<(string HostId, string Secret)> EnrollMacAsync()
    {
        var hostId = Guid.NewGuid().ToString().ToUpperInvariant();
        var key = (await Host(hostId).EnrollAsync(new EnrollRequest(s_mac15))).NodeKey;

        return (hostId, key[(key.IndexOf(':', StringComparison.Ordinal) + 1)..]);
    }

    private Task<HostView> EventuallyHostAsync(string hostId, Func<HostView, bool> done, string what) =>
        ApiTestKit.EventuallyAsync(
            async () => (await Host(hostId).GetAsync())!,
            done,
            $"host {hostId}: {what}",
            s_fanOut,
            view => $"os_settings {view.OsSettings}, profiles [{string.Join(", ", view.Profiles.Select(p => $"{p.Identifier} {p.Operation} {p.Status}"))}]");

    private static DetailResults ProfileRows(params (string Identifier, string InstallDate)[] rows) => new(
        new Dictionary<string, IReadOnlyList<IReadOnlyDictionary<string, string>>>
        {
            ["mdm_config_profiles_darwin"] = [.. rows.Select(r => new Dictionary<string, string>
            {
                ["identifier"] = r.Identifier,
                ["display_name"] = "Firewall",
                ["install_date"] = r.InstallDate,
            })],
        },
        new Dictionary<string, int> { ["mdm_config_profiles_darwin"] = 0 },
        new Dictionary<string, string>());

    private static string OsqueryDate(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss '+0000'", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Team_UpsertAndDelete_GrowTheVersionOnlyOnRealChanges()
    {
        var team = Team(NewTeamId());

        var first = await team.UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        var same = await team.UpsertProfileAsync(Firewall, "Firewall renamed", "sha-1");
        var afterSame = await team.GetProfilesAsync();
        var second = await team.UpsertProfileAsync(Firewall, "Firewall", "sha-2");
        var afterSecond = await team.GetProfilesAsync();
        var deleted = await team.DeleteProfileAsync(Firewall);
        var deletedAgain = await team.DeleteProfileAsync(Firewall);
        var afterDelete = await team.GetProfilesAsync();

        Assert.Equal(first, same);
        Assert.Equal(1, afterSame.Version);
        Assert.Equal([first], afterSame.Profiles);
        Assert.Equal("sha-2", second.Checksum);
        Assert.True(second.UploadedAt >= first.UploadedAt, $"new version uploaded at {second.UploadedAt:O}, before {first.UploadedAt:O}");
        Assert.Equal((2L, 1), (afterSecond.Version, afterSecond.Profiles.Count));
        Assert.True(deleted);
        Assert.False(deletedAgain);
        Assert.Equal((3L, 0), (afterDelete.Version, afterDelete.Profiles.Count));
    }

    [Fact]
    public async Task Team_AfterDeactivation_KeepsItsProfilesAndMembers()
    {
        var teamId = NewTeamId();
        var (hostId, _) = await EnrollMacAsync();
        var declared = await Team(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        Assert.True(await Host(hostId).SetTeamAsync(teamId));

        await Team(teamId).Cast<IGrainManagementExtension>().DeactivateOnIdle(TestContext.Current.CancellationToken);
        var reloaded = await Team(teamId).GetProfilesAsync();
        await Team(teamId).UpsertProfileAsync("com.example.passcode", "Passcode", "sha-9");
        var view = await EventuallyHostAsync(hostId, v => v.Profiles.Count == 2, "told of the second profile after the team reloaded");

        Assert.Equal((teamId, 1L), (reloaded.TeamId, reloaded.Version));
        Assert.Equal([declared], reloaded.Profiles);
        Assert.All(view.Profiles, p => Assert.Equal(ProfileStatus.Pending, p.Status));
    }

    [Fact]
    public async Task Team_ProfileChanges_ReachEveryMember()
    {
        var teamId = NewTeamId();
        var hosts = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (hostId, _) = await EnrollMacAsync();
            Assert.True(await Host(hostId).SetTeamAsync(teamId));
            hosts.Add(hostId);
        }

        await Team(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        foreach (var hostId in hosts)
        {
            var view = await EventuallyHostAsync(hostId, v => v.Profiles.Count == 1, "told of the declared profile");
            var profile = view.Profiles[0];
            Assert.Equal((Firewall, ProfileOperation.Install, ProfileStatus.Pending, 1), (profile.Identifier, profile.Operation, profile.Status, profile.Attempt));
            Assert.Equal((teamId, ProfileStatus.Pending), (view.TeamId, view.OsSettings));
            Assert.NotNull(profile.Deadline);
        }

        await Team(teamId).DeleteProfileAsync(Firewall);
        foreach (var hostId in hosts)
        {
            // Never received by the device, so the removal completes at once.
            var view = await EventuallyHostAsync(hostId, v => v.Profiles.Count == 0, "told of the deletion");
            Assert.Equal(ProfileStatus.None, view.OsSettings);
        }
    }

    [Fact]
    public async Task SetTeam_ToNoTeam_LeavesTheTeamAndRemovesItsUnreceivedProfiles()
    {
        var teamId = NewTeamId();
        var (hostId, _) = await EnrollMacAsync();
        await Team(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        Assert.True(await Host(hostId).SetTeamAsync(teamId));
        var joined = (await Host(hostId).GetAsync())!;

        Assert.True(await Host(hostId).SetTeamAsync(null));
        await Team(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-2");
        var left = (await Host(hostId).GetAsync())!;

        Assert.Equal((teamId, 1), (joined.TeamId, joined.Profiles.Count));
        Assert.Null(left.TeamId);
        Assert.Empty(left.Profiles);
        Assert.False(await Host(Guid.NewGuid().ToString().ToUpperInvariant()).SetTeamAsync(teamId), "an unknown host joined a team");
    }

    [Fact]
    public async Task OsqueryWrite_WithTheProfileInstalled_VerifiesItThroughTheAgentApi()
    {
        var teamId = NewTeamId();
        var http = fixture.AgentClient();
        var agent = await TestAgent.EnrollAsync(http, AgentProfile.MacOs14);
        var declared = await Team(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        Assert.True(await Host(agent.HostId).SetTeamAsync(teamId));
        await Host(agent.HostId).RequestRefetchAsync();

        var handedOut = await agent.ReadAsync();
        var body = new JsonObject
        {
            ["node_key"] = agent.NodeKey,
            ["queries"] = new JsonObject
            {
                [MdmQuery] = new JsonArray(new JsonObject
                {
                    ["display_name"] = "Firewall",
                    ["identifier"] = Firewall,
                    ["install_date"] = OsqueryDate(declared.UploadedAt.AddSeconds(5)),
                }),
            },
            ["statuses"] = new JsonObject { [MdmQuery] = 0 },
        };
        using var response = await agent.PostAsync("/api/osquery/distributed/write", body.ToJsonString());
        var view = (await Host(agent.HostId).GetAsync())!;

        Assert.Contains(MdmQuery, handedOut);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var profile = Assert.Single(view.Profiles);
        Assert.Equal((ProfileStatus.Verified, "confirmed installed by osquery"), (profile.Status, profile.Detail));
        Assert.Null(profile.Deadline);
        Assert.Equal(
            [(ProfileStatus.None, ProfileStatus.Pending), (ProfileStatus.Pending, ProfileStatus.Verified)],
            profile.History.Select(t => (t.From, t.To)).ToArray());
        Assert.Equal(ProfileStatus.Verified, view.OsSettings);
    }

    [Fact]
    public async Task OsqueryWrite_WithAnInstallDateBeforeTheUpload_LeavesThePendingProfile()
    {
        var teamId = NewTeamId();
        var (hostId, secret) = await EnrollMacAsync();
        var declared = await Team(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        await Host(hostId).SetTeamAsync(teamId);
        var installedLater = ProfileRows((Firewall, declared.UploadedAt.AddMinutes(1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)));

        Assert.True(await Host(hostId).WriteAsync(secret, ProfileRows((Firewall, OsqueryDate(declared.UploadedAt.AddMinutes(-5))))));
        var stale = (await Host(hostId).GetAsync())!;
        Assert.True(await Host(hostId).WriteAsync(secret, installedLater));
        var fresh = (await Host(hostId).GetAsync())!;
        Assert.True(await Host(hostId).WriteAsync(secret, installedLater));
        var again = (await Host(hostId).GetAsync())!;

        Assert.Equal(ProfileStatus.Pending, Assert.Single(stale.Profiles).Status);
        Assert.Equal(ProfileStatus.Verified, Assert.Single(fresh.Profiles).Status);
        Assert.True(again.Revision == fresh.Revision, $"host {hostId}: a repeated confirmation wrote its state {again.Revision - fresh.Revision} times");
    }

    [Fact]
    public async Task Index_FiltersByTeamAndOsSettings_AndCountsOsSettingsPerTeam()
    {
        var teamId = NewTeamId();
        var declared = await Team(teamId).UpsertProfileAsync(Firewall, "Firewall", "sha-1");
        var (verifiedHost, secret) = await EnrollMacAsync();
        var (pendingHost, _) = await EnrollMacAsync();
        var (outsider, _) = await EnrollMacAsync();
        await Host(verifiedHost).SetTeamAsync(teamId);
        await Host(pendingHost).SetTeamAsync(teamId);
        await Host(verifiedHost).WriteAsync(secret, ProfileRows((Firewall, OsqueryDate(declared.UploadedAt.AddSeconds(1)))));

        var summary = await ApiTestKit.EventuallyAsync(
            () => CountAsync(teamId),
            s => s == new ProfileSummary(1, 0, 1, 0),
            $"team {teamId}: summary of one verified and one pending host");
        var pending = await QueryAsync(new HostQuery(null, null, null, 500, TeamId: teamId, OsSettings: ProfileStatus.Pending));
        var inTeam = await QueryAsync(new HostQuery(null, null, null, 500, TeamId: teamId));
        var all = await CountAsync(null);

        Assert.Equal(new ProfileSummary(1, 0, 1, 0), summary);
        Assert.Equal([pendingHost], pending);
        Assert.Equal(new[] { verifiedHost, pendingHost }.Order(StringComparer.Ordinal), inTeam.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(outsider, inTeam);
        Assert.True(all.Verified >= 1 && all.Pending >= 1, $"all teams: {all}");
    }

    private async Task<ProfileSummary> CountAsync(string? teamId)
    {
        var counts = await Task.WhenAll(Enumerable.Range(0, HostIndex.ShardCount)
            .Select(s => fixture.Grains.GetGrain<IHostIndexShardGrain>(s).CountOsSettingsAsync(teamId)));

        return new ProfileSummary(counts.Sum(c => c.Verified), counts.Sum(c => c.Verifying), counts.Sum(c => c.Pending), counts.Sum(c => c.Failed));
    }

    private async Task<List<string>> QueryAsync(HostQuery query)
    {
        var pages = await Task.WhenAll(Enumerable.Range(0, HostIndex.ShardCount)
            .Select(s => fixture.Grains.GetGrain<IHostIndexShardGrain>(s).QueryAsync(query)));

        return [.. pages.SelectMany(p => p.Entries).Select(e => e.HostId)];
    }
}
