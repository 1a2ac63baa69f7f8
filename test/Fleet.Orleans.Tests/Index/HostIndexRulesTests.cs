using Fleet.Api.Operators;
using Fleet.Contracts;
using Fleet.Grains.Index;

namespace Fleet.Tests.Index;

/// <summary>The index's filters and the identifier lookup's choice, on entries built in the test.</summary>
public sealed class HostIndexRulesTests
{
    private static readonly DateTimeOffset s_at = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private static HostIndexEntry Entry(string hostId, string? osVersion = "15.1", DateTimeOffset? lastSeen = null, string? serial = null, string? hostname = null) =>
        new(hostId, 1, RefetchStatus.None, "darwin", osVersion, hostname, serial, lastSeen, s_at, null);

    private static HostQuery Query(string? osVersion = null, DateTimeOffset? lastSeenBefore = null) =>
        new(null, null, null, 10, OsVersion: osVersion, LastSeenBefore: lastSeenBefore);

    [Theory]
    [InlineData("15", "15", true)]
    [InlineData("15", "15.1", true)]
    [InlineData("15", "15.1.2", true)]
    [InlineData("14.5", "14.5.1", true)]
    [InlineData("14.5", "14.5", true)]
    [InlineData("15", "150.0", false)]
    [InlineData("15", "1", false)]
    [InlineData("15.1", "15", false)]
    [InlineData("15.1", "15.10", false)]
    [InlineData("15.1", "15-1", false)]
    [InlineData("22.04", "22.04.1 LTS", true)]
    [InlineData("22.04.1", "22.04.1 LTS", false)]
    public void OsVersion_MatchesTheVersionOrOneContinuingItAfterADot(string wanted, string reported, bool expected)
    {
        var matches = HostIndexRules.Matches(Entry("A", reported), Query(osVersion: wanted));

        Assert.True(matches == expected, $"os_version={wanted} against reported '{reported}': expected {expected}, got {matches}");
    }

    [Fact]
    public void OsVersion_OfAHostThatReportedNone_NeverMatches()
    {
        Assert.False(HostIndexRules.Matches(Entry("A", osVersion: null), Query(osVersion: "15")));
    }

    [Fact]
    public void LastSeenBefore_KeepsEarlierAndNeverSeenHosts_NotOnesSeenAtOrAfter()
    {
        var query = Query(lastSeenBefore: s_at);

        Assert.True(HostIndexRules.Matches(Entry("A", lastSeen: s_at.AddTicks(-1)), query), "one tick earlier");
        Assert.True(HostIndexRules.Matches(Entry("B", lastSeen: null), query), "never seen");
        Assert.False(HostIndexRules.Matches(Entry("C", lastSeen: s_at), query), "exactly at the bound");
        Assert.False(HostIndexRules.Matches(Entry("D", lastSeen: s_at.AddHours(1)), query), "an hour later");
    }

    [Fact]
    public void Choose_AmongHostsSharingASerial_ReturnsTheMostRecentlySeenAndNamesTheOthers()
    {
        var old = Entry("AAAAAAAA-0001", lastSeen: s_at, serial: "C02X1");
        var newest = Entry("CCCCCCCC-0003", lastSeen: s_at.AddDays(2), serial: "C02X1");
        var never = Entry("BBBBBBBB-0002", lastSeen: null, serial: "c02x1");

        var match = HostMatch.Choose("C02X1", [old, never, newest]);

        Assert.NotNull(match);
        Assert.Equal(("serial", "CCCCCCCC-0003"), (match.MatchedBy, match.Host.HostId));
        Assert.Equal(["AAAAAAAA-0001", "BBBBBBBB-0002"], match.Others.Select(e => e.HostId));
        Assert.Equal("3 hosts share serial C02X1; the most recently seen is returned.", match.Note);
    }

    [Fact]
    public void Choose_PrefersAHostIdMatchOverASerialOverAHostname()
    {
        var byId = Entry("ABCDEF01-0001", lastSeen: s_at);
        var bySerial = Entry("ABCDEF01-0002", lastSeen: s_at.AddDays(1), serial: "abcdef01-0001");
        var byHostname = Entry("ABCDEF01-0003", lastSeen: s_at.AddDays(2), serial: "S3", hostname: "mac-3");
        var hostnameAlso = Entry("ABCDEF01-0004", lastSeen: s_at.AddDays(3), serial: "mac-3");

        var id = HostMatch.Choose("abcdef01-0001", [bySerial, byId]);
        var serial = HostMatch.Choose("MAC-3", [byHostname, hostnameAlso]);
        var hostname = HostMatch.Choose("Mac-3", [byHostname]);

        Assert.Equal(("host_id", "ABCDEF01-0001", 0, (string?)null), (id!.MatchedBy, id.Host.HostId, id.Others.Count, id.Note));
        Assert.Equal(("serial", "ABCDEF01-0004", 0), (serial!.MatchedBy, serial.Host.HostId, serial.Others.Count));
        Assert.Equal(("hostname", "ABCDEF01-0003"), (hostname!.MatchedBy, hostname.Host.HostId));
        Assert.Null(HostMatch.Choose("nothing", [byId, bySerial, byHostname]));
    }

    [Fact]
    public void RunningCounts_AfterAddsReplacementsAndRemovals_EqualACountOfTheEntriesHeld()
    {
        var held = new Dictionary<string, HostIndexEntry>(StringComparer.Ordinal);
        var counts = new RunningCounts();
        var statuses = Enum.GetValues<RefetchStatus>();
        string?[] platforms = ["darwin", "ubuntu", null];
        IdentityState?[] identities = [null, IdentityState.Expired, IdentityState.Renewing];
        for (var i = 0; i < 300; i++)
        {
            var hostId = $"HOST-{i % 40:D2}";
            if (held.Remove(hostId, out var old))
            {
                counts.Remove(old);
            }

            // Every third step removes the host; the others put a new entry for it.
            if (i % 3 != 0)
            {
                var entry = Entry(hostId) with
                {
                    Status = statuses[i % statuses.Length],
                    Platform = platforms[i % platforms.Length],
                    Identity = identities[i / 7 % identities.Length],
                };
                held[hostId] = entry;
                counts.Add(entry);
            }
        }

        var expected = HostIndexRules.Count(held.Values);
        var actual = counts.Snapshot();

        Assert.Equal(expected.Total, actual.Total);
        Assert.Equal(expected.ByStatus.OrderBy(p => p.Key), actual.ByStatus.OrderBy(p => p.Key));
        Assert.Equal(expected.ByPlatform.OrderBy(p => p.Key, StringComparer.Ordinal), actual.ByPlatform.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal((expected.CertificatesExpired, expected.CertificatesRenewing), (actual.CertificatesExpired, actual.CertificatesRenewing));
    }
}
