using Fleet.Contracts;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Teams;

/// <summary>
/// A team's declared configuration profiles and its members. A change is written first and then sent to the
/// members in the background, a batch at a time: the operator's call does not wait on every host, and a member
/// that misses the message pulls the profiles when it next activates.
/// </summary>
internal sealed partial class TeamGrain(
    [PersistentState("team", FleetStorage.TeamStore)] IPersistentState<TeamState> store,
    TimeProvider time,
    ILogger<TeamGrain> logger) : Grain, ITeamGrain
{
    /// <summary>Members told at once; the next batch waits for this one, so a large team cannot flood the silo.</summary>
    public const int FanOutBatch = 50;

    /// <summary>Longest identifier, display name or checksum accepted; osquery reports values up to this length.</summary>
    public const int MaxValueLength = 255;

    private TeamState State => store.State;

    private string TeamId => this.GetPrimaryKeyString();

    async Task<ProfileDeclaration> ITeamGrain.UpsertProfileAsync(string identifier, string displayName, string checksum)
    {
        Require(identifier, nameof(identifier));
        Require(displayName, nameof(displayName));
        Require(checksum, nameof(checksum));
        var index = State.Profiles.FindIndex(p => p.Identifier == identifier);
        if (index >= 0 && State.Profiles[index].Checksum == checksum)
        {
            return State.Profiles[index];
        }

        var declaration = new ProfileDeclaration(identifier, displayName, checksum, time.GetUtcNow());
        if (index >= 0)
        {
            State.Profiles[index] = declaration;
        }
        else
        {
            State.Profiles.Add(declaration);
        }

        await ProfilesChangedAsync();
        LogProfileDeclared(TeamId, identifier, checksum, State.Version);

        return declaration;
    }

    async Task<bool> ITeamGrain.DeleteProfileAsync(string identifier)
    {
        if (State.Profiles.RemoveAll(p => p.Identifier == identifier) == 0)
        {
            return false;
        }

        await ProfilesChangedAsync();
        LogProfileDeleted(TeamId, identifier, State.Version);

        return true;
    }

    Task<TeamProfiles> ITeamGrain.GetProfilesAsync() => Task.FromResult(Current());

    async Task<TeamProfiles> ITeamGrain.JoinAsync(string hostId)
    {
        if (State.Members.Add(hostId))
        {
            await WriteAsync();
        }

        return Current();
    }

    async Task ITeamGrain.LeaveAsync(string hostId)
    {
        if (State.Members.Remove(hostId))
        {
            await WriteAsync();
        }
    }

    private TeamProfiles Current() => new(TeamId, State.Version, [.. State.Profiles]);

    private async Task ProfilesChangedAsync()
    {
        State.Version++;
        await WriteAsync();

        // Not awaited: the change is stored, and every member either takes this message or pulls on activation.
        _ = TellMembersAsync(Current(), [.. State.Members]);
    }

    private async Task TellMembersAsync(TeamProfiles profiles, string[] members)
    {
        foreach (var batch in members.Chunk(FanOutBatch))
        {
            if (State.Version != profiles.Version)
            {
                // A newer change is on its way to every member; this one is already out of date.
                return;
            }

            await Task.WhenAll(batch.Select(hostId => TellAsync(hostId, profiles)));
        }
    }

    private async Task TellAsync(string hostId, TeamProfiles profiles)
    {
        try
        {
            await GrainFactory.GetGrain<IHostGrain>(hostId).ApplyTeamProfilesAsync(profiles);
        }
        catch (Exception exception)
        {
            LogMemberNotTold(TeamId, hostId, profiles.Version, exception);
        }
    }

    private async Task WriteAsync()
    {
        try
        {
            await store.WriteStateAsync();
        }
        catch (Exception exception)
        {
            // Memory is now ahead of storage. Drop this activation so the next call starts from what was stored.
            LogWriteFailed(TeamId, exception);
            DeactivateOnIdle();
            throw;
        }
    }

    private static void Require(string value, string name)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > MaxValueLength)
        {
            throw new ArgumentException($"{name} must be 1-{MaxValueLength} characters and not blank.", name);
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Information,
        Message = "Team {TeamId}: profile {Identifier} declared with checksum {Checksum} (version {Version})")]
    private partial void LogProfileDeclared(string teamId, string identifier, string checksum, long version);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information,
        Message = "Team {TeamId}: profile {Identifier} deleted (version {Version})")]
    private partial void LogProfileDeleted(string teamId, string identifier, long version);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning,
        Message = "Team {TeamId}: host {HostId} was not told of version {Version}; it pulls the profiles when it next activates")]
    private partial void LogMemberNotTold(string teamId, string hostId, long version, Exception exception);

    [LoggerMessage(EventId = 303, Level = LogLevel.Error, Message = "Team {TeamId}: state write failed; the change was not acknowledged")]
    private partial void LogWriteFailed(string teamId, Exception exception);
}
