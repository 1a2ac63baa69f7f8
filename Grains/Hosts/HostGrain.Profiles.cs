using Fleet.Contracts;
using Fleet.Grains.Mdm;

namespace Fleet.Grains.Hosts;

// Configuration profiles. Seam for the MDM work: the command channel calls these hooks. Each returns true
// when it changed state that must be written before the device or agent is answered.
internal sealed partial class HostGrain
{
    /// <summary>The device answered an InstallProfile or RemoveProfile command.</summary>
    private bool OnProfileCommandResult(QueuedCommand command, MdmResultStatus status, IReadOnlyList<MdmError> errorChain, DateTimeOffset now) => false;

    /// <summary>What the device has installed, from osquery (<c>mdm_config_profiles_darwin</c>) or a ProfileList answer.</summary>
    private bool OnInstalledProfiles(IReadOnlyList<InstalledProfile> installed, string source, DateTimeOffset now) => false;

    /// <summary>The earliest profile deadline, for the host's single wake-up timer and reminder.</summary>
    private DateTimeOffset? NextProfileDeadline() => null;

    /// <summary>Runs every profile deadline that is due.</summary>
    private bool OnProfileDeadlines(DateTimeOffset now) => false;

    /// <summary>Authenticate cleared the queue: profiles not yet confirmed are queued again.</summary>
    private bool OnMdmReenrolled(DateTimeOffset now) => false;

    /// <summary>The device checked out of MDM: outstanding profile work fails with that reason.</summary>
    private bool OnMdmCheckedOut(DateTimeOffset now) => false;

    /// <summary>On activation: pull the team's profiles if a change message was lost.</summary>
    private Task OnProfilesActivateAsync() => Task.CompletedTask;

    private ProfileStatus OsSettingsStatus() => ProfileStatus.None;

    private IReadOnlyList<HostProfileView> ProfileViews() => [];
}
