using Fleet.Contracts;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Mdm;
using Fleet.Grains.Profiles;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Hosts;

// Configuration profiles. Seam for the MDM work: the command channel calls these hooks. Each returns true
// when it changed state that must be written before the device or agent is answered.
internal sealed partial class HostGrain
{
    /// <summary>The source named in a profile's detail when osquery's <c>macos_profiles</c> rows settle it.</summary>
    private const string OsquerySource = "osquery";

    private ProfileOptions ProfileSettings => services.Profiles.CurrentValue;

    // The host's profile records; the state holds null rather than an empty list.
    private IReadOnlyList<ProfileRecord> ProfileRecords => State.Profiles ?? (IReadOnlyList<ProfileRecord>)[];

    async Task<bool> IHostGrain.SetTeamAsync(string? teamId)
    {
        if (!State.Enrolled)
        {
            return false;
        }

        if (teamId is not null && !TeamIds.IsValid(teamId))
        {
            throw new ArgumentException($"'{teamId}' is not a team id.", nameof(teamId));
        }

        var previous = State.TeamId;
        if (teamId == previous)
        {
            return true;
        }

        if (previous is not null)
        {
            await Team(previous).LeaveAsync(HostId);
        }

        var profiles = teamId is null ? null : await Team(teamId).JoinAsync(HostId);
        State.TeamId = teamId;
        State.TeamProfilesVersion = profiles?.Version ?? 0;
        StepProfiles(new ProfileEvent.Reconcile(profiles?.Profiles ?? []), services.Time.GetUtcNow());
        await PersistAsync();

        LogTeamChanged(HostId, previous ?? "none", teamId ?? "none", State.Profiles?.Count ?? 0);

        return true;
    }

    async Task IHostGrain.ApplyTeamProfilesAsync(TeamProfiles profiles)
    {
        // A team the host has left, or a message overtaken by a newer one (or by the pull on activation).
        if (!State.Enrolled || profiles.TeamId != State.TeamId || profiles.Version <= State.TeamProfilesVersion)
        {
            return;
        }

        await ReconcileAsync(profiles);
    }

    /// <summary>The device answered an InstallProfile or RemoveProfile command.</summary>
    private bool OnProfileCommandResult(QueuedCommand command, MdmResultStatus status, IReadOnlyList<MdmError> errorChain, DateTimeOffset now) =>
        StepProfiles(new ProfileEvent.CommandAnswered(command.CommandUuid, command.Kind, status, errorChain), now);

    /// <summary>What the device has installed, from osquery (<c>mdm_config_profiles_darwin</c>) or a ProfileList answer.</summary>
    private bool OnInstalledProfiles(IReadOnlyList<InstalledProfile> installed, string source, DateTimeOffset now) =>
        StepProfiles(new ProfileEvent.InstalledReported(installed, source), now);

    /// <summary>The earliest profile deadline, for the host's single wake-up timer and reminder.</summary>
    private DateTimeOffset? NextProfileDeadline() => ProfileMachine.NextDeadline(ProfileRecords, ProfileSettings);

    /// <summary>Runs every profile deadline that is due.</summary>
    private bool OnProfileDeadlines(DateTimeOffset now) =>
        StepProfiles(new ProfileEvent.DeadlinesDue(PushState()), now);

    /// <summary>What a profile that timed out says about pushes: why none can reach the device, or why the last one failed.</summary>
    private string? PushState() =>
        !MdmReady ? "the host is not enrolled in MDM, so no push can reach it"
        : State.Mdm?.PushFailure is { } failure ? $"the last push failed: {failure.Message}"
        : null;

    /// <summary>Authenticate cleared the queue: profiles not yet confirmed are queued again.</summary>
    private bool OnMdmReenrolled(bool wasEnrolled, DateTimeOffset now) => StepProfiles(new ProfileEvent.Reenrolled(wasEnrolled), now);

    /// <summary>The device checked out of MDM: outstanding profile work fails with that reason.</summary>
    private bool OnMdmCheckedOut(DateTimeOffset now) => StepProfiles(new ProfileEvent.CheckedOut(), now);

    /// <summary>On activation: pull the team's profiles if a change message was lost.</summary>
    private async Task OnProfilesActivateAsync()
    {
        if (State.TeamId is not { } teamId)
        {
            return;
        }

        try
        {
            var profiles = await Team(teamId).GetProfilesAsync();
            if (profiles.Version > State.TeamProfilesVersion)
            {
                await ReconcileAsync(profiles);
            }
        }
        catch (Exception exception)
        {
            // The team's next change message, or the next activation, tries again; the host must still activate.
            LogTeamPullFailed(HostId, teamId, exception);
        }
    }

    private ProfileStatus OsSettingsStatus() => ProfileMachine.Worst(ProfileRecords);

    private IReadOnlyList<HostProfileView> ProfileViews() =>
        [.. ProfileRecords.Select(r => new HostProfileView(
            r.Identifier,
            r.DisplayName,
            r.Operation,
            r.Status,
            r.Detail,
            r.Attempt,
            ProfileMachine.NextDeadline(r, ProfileSettings),
            r.UpdatedAt,
            r.History))];

    private async Task ReconcileAsync(TeamProfiles profiles)
    {
        State.TeamProfilesVersion = profiles.Version;
        if (StepProfiles(new ProfileEvent.Reconcile(profiles.Profiles), services.Time.GetUtcNow()))
        {
            await PersistAsync();
        }
        else
        {
            // Nothing to install or remove: the version rides along with the next write.
            _unsavedCheckIn = true;
        }
    }

    /// <summary>
    /// Runs one event through the profile machine and its effects: commands dropped, then queued (each record
    /// learns its command's UUID), a ProfileList, and a push. The caller persists when this returns true.
    /// </summary>
    private bool StepProfiles(ProfileEvent evt, DateTimeOffset now)
    {
        var step = ProfileMachine.Apply(ProfileRecords, evt, ProfileSettings, now);
        if (!step.Changed)
        {
            return false;
        }

        foreach (var uuid in step.Drop)
        {
            DropCommand(uuid);
        }

        var records = step.Records.ToList();
        foreach (var request in step.Enqueue)
        {
            var uuid = EnqueueCommand(request.Kind, request.Identifier, request.DisplayName, request.Checksum);
            var index = records.FindIndex(r => r.Identifier == request.Identifier);
            records[index] = records[index] with { CommandUuid = uuid };
        }

        // One ProfileList not yet handed out answers for every verifying profile.
        if (step.QueueProfileList && State.Commands?.Any(c => c is { Kind: MdmCommandKind.ProfileList, SentAt: null }) is not true)
        {
            EnqueueCommand(MdmCommandKind.ProfileList);
        }

        State.Profiles = records;
        foreach (var change in step.Changes)
        {
            RecordProfileChange(change);
        }

        // Without an MDM enrollment there is no one to push to; the commands wait for the device's first check-in.
        if (step.Push && MdmReady)
        {
            RequestPush();
        }

        return true;
    }

    private void RecordProfileChange(ProfileChange change)
    {
        var transition = change.Transition;
        services.Metrics.ProfileTransition(transition);
        LogProfileTransition(
            transition.To == ProfileStatus.Failed ? LogLevel.Warning : LogLevel.Information,
            HostId,
            change.Identifier,
            Words.Of(transition.Operation),
            Words.Of(transition.From),
            Words.Of(transition.To),
            transition.Detail);
    }

    private ITeamGrain Team(string teamId) => GrainFactory.GetGrain<ITeamGrain>(teamId);

    [LoggerMessage(EventId = 130,
        Message = "Host {HostId} profile {Identifier} ({Operation}): {From} -> {To}: {Detail}")]
    private partial void LogProfileTransition(
        LogLevel level, string hostId, string identifier, string operation, string from, string to, string detail);

    [LoggerMessage(EventId = 131, Level = LogLevel.Information,
        Message = "Host {HostId} moved from team {Previous} to team {Team}; {Profiles} profile records")]
    private partial void LogTeamChanged(string hostId, string previous, string team, int profiles);

    [LoggerMessage(EventId = 132, Level = LogLevel.Warning,
        Message = "Host {HostId}: could not read the profiles of team {TeamId} on activation")]
    private partial void LogTeamPullFailed(string hostId, string teamId, Exception exception);
}
