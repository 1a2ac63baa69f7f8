using Fleet.Contracts;

namespace Fleet.Grains.Teams;

/// <summary>What a <see cref="TeamGrain"/> persists. Ids are never renumbered.</summary>
[GenerateSerializer, Alias("fleet.team-state")]
public sealed class TeamState
{
    /// <summary>Grows by one with every change to <see cref="Profiles"/>; hosts ignore versions they have applied.</summary>
    [Id(0)] public long Version { get; set; }

    /// <summary>The declared profiles, in the order they were first declared.</summary>
    [Id(1)] public List<ProfileDeclaration> Profiles { get; set; } = [];

    /// <summary>Host ids of the members, told of every change to the profiles.</summary>
    [Id(2)] public HashSet<string> Members { get; set; } = new(StringComparer.Ordinal);
}
