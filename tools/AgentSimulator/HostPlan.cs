using Fleet.AgentSimulator.Mdm;

namespace Fleet.AgentSimulator;

/// <summary>
/// Turns the options into numbered agents, handing out faults from the end of the host list, MDM
/// behaviours from the end of the Macs and expired identities from their front.
/// </summary>
public static class HostPlan
{
    // The rendered payloads come from a MacBook Pro; osquery reports only its model identifier.
    private const string MacModelName = "MacBook Pro";

    /// <summary>
    /// The agents, numbered from 1; <paramref name="pki"/> issues each Mac's identity (without it, they present none).
    /// The Macs' clocks run <see cref="SimulatorOptions.ClockSkew"/> apart from <paramref name="clock"/>.
    /// </summary>
    public static IReadOnlyList<SimulatedAgent> CreateAgents(
        SimulatorOptions options, HttpClient http, TimeProvider clock, DevicePki? pki, RequestCounters? counters = null)
    {
        var agentClock = options.ClockSkew == TimeSpan.Zero ? clock : new SkewedClock(clock, options.ClockSkew);
        var profiles = options.Hosts.SelectMany(host => Enumerable.Repeat(host.Profile, host.Count)).ToList();
        var faults = FromTheEnd(profiles.Count, FaultMode.None, options.Faults);
        var macCount = profiles.Count(profile => profile.IsMac);
        var behaviours = new Queue<MdmBehaviour>(FromTheEnd(macCount, MdmBehaviour.Normal, options.MdmBehaviours));
        var expired = new Queue<bool>(Enumerable.Range(0, macCount).Select(mac => mac < options.ExpiredIdentities));

        return profiles
            .Select((profile, index) =>
            {
                var identity = HostIdentity.Create(profile, options.Seed, index + 1);
                var mac = profile.IsMac
                    ? new MacDevice(
                        identity.Uuid, MacFactsFor(profile, identity), behaviours.Dequeue(), agentClock,
                        IdentityFor(identity.Uuid, expired.Dequeue()))
                    : null;

                return new SimulatedAgent(
                    http, options.Api, options.EnrollSecret, profile, identity, faults[index], mac, counters);
            })
            .ToList();

        DeviceIdentity? IdentityFor(string udid, bool hasExpired) => (pki, hasExpired) switch
        {
            (null, _) => null,
            (_, true) => pki.IssueExpired(udid, options.IdentityValidity),
            _ => pki.Issue(udid, options.IdentityValidity),
        };
    }

    /// <summary>What the Mac of this profile and identity says about itself over MDM, read from its osquery payload.</summary>
    public static MacFacts MacFactsFor(HostProfile profile, HostIdentity identity)
    {
        var os = AgentPayloads.Rows(profile, identity, "fleet_detail_query_os_version").Single();
        var system = AgentPayloads.Rows(profile, identity, "fleet_detail_query_system_info").Single();
        var model = (string?)system?["hardware_model"] ?? "";

        return new MacFacts(
            (string?)os?["version"] ?? "",
            (string?)os?["build"] ?? "",
            identity.Serial,
            identity.Hostname,
            MacModelName,
            model);
    }

    private static T[] FromTheEnd<T>(int count, T none, IReadOnlyList<(T Mode, int Count)> assignments)
    {
        var modes = Enumerable.Repeat(none, count).ToArray();
        var next = modes.Length - 1;
        foreach (var (mode, hosts) in assignments)
        {
            for (var i = 0; i < hosts; i++)
            {
                modes[next--] = mode;
            }
        }

        return modes;
    }
}
