namespace Fleet.AgentSimulator;

/// <summary>Turns the options into numbered agents, handing out faults from the end of the host list.</summary>
internal static class HostPlan
{
    public static IReadOnlyList<SimulatedAgent> CreateAgents(SimulatorOptions options, HttpClient http)
    {
        var profiles = options.Hosts.SelectMany(host => Enumerable.Repeat(host.Profile, host.Count)).ToList();
        var faults = Enumerable.Repeat(FaultMode.None, profiles.Count).ToArray();
        var next = faults.Length - 1;
        foreach (var (mode, count) in options.Faults)
        {
            for (var i = 0; i < count; i++)
            {
                faults[next--] = mode;
            }
        }

        return profiles
            .Select((profile, index) => new SimulatedAgent(
                http,
                options.Api,
                options.EnrollSecret,
                profile,
                HostIdentity.Create(profile, options.Seed, index + 1),
                faults[index]))
            .ToList();
    }
}
