using Fleet.Contracts;
using Fleet.Grains;
using Fleet.Grains.Diagnostics;
using Fleet.Grains.Refetch;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Telemetry;

/// <summary>The bounded label values of the refetch metrics, and which steps of the machine count as retries.</summary>
public sealed class MetricLabelTests
{
    private const string Command = "11111111-1111-4111-8111-111111111111";
    private const string NextCommand = "22222222-2222-4222-8222-222222222222";

    private static readonly DateTimeOffset s_start = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private static readonly RefetchPolicy s_linux = new(
        "linux",
        PickupTimeout: TimeSpan.FromMinutes(2),
        ResultsTimeout: TimeSpan.FromMinutes(1),
        MaxAttempts: 2,
        RetryBackoff: TimeSpan.FromSeconds(30),
        MaxRetryBackoff: TimeSpan.FromSeconds(30));

    private static readonly RefetchPolicy s_mac = s_linux with { Name = "macos14", MdmMaxAttempts = 2 };

    private readonly FakeTimeProvider _clock = new(s_start);

    public static TheoryData<string?, string> ReasonsAndClasses => new()
    {
        { null, "none" },
        { ReasonCodes.AgentSilent, "agent" },
        { ReasonCodes.AgentNoResults, "agent" },
        { ReasonCodes.AgentError, "agent" },
        { ReasonCodes.MdmNoAck, "mdm" },
        { ReasonCodes.MdmError, "mdm" },
        { ReasonCodes.MdmUnenrolled, "mdm" },
        { ReasonCodes.PushFailed, "push" },
        { ReasonCodes.IdentityExpired, "identity" },
        { ReasonCodes.IdentityIssueFailed, "identity" },
        { ReasonCodes.IdentityNotPresented, "identity" },
        { "something_new", "other" },
    };

    public static TheoryData<string?, string> PlatformsAndLabels => new()
    {
        { null, "unknown" },
        { "darwin", "darwin" },
        { "linux", "linux" },
        { "windows", "windows" },
        { "ios", "ios" },
        { "ipados", "ipados" },
        { "freebsd", "other" },
        { "a platform an agent made up", "other" },
    };

    [Theory]
    [MemberData(nameof(ReasonsAndClasses))]
    public void ReasonClass_OfEachCode_IsItsFamily(string? code, string expected)
    {
        var reason = code is null ? null : new Reason(code, "message");

        Assert.Equal(expected, ReasonClasses.Of(reason));
    }

    [Theory]
    [MemberData(nameof(PlatformsAndLabels))]
    public void PlatformLabel_OfAnyPlatform_IsAFamilyOrOtherOrUnknown(string? platform, string expected) =>
        Assert.Equal(expected, Platforms.Label(platform));

    [Fact]
    public void Retries_WhenPickupDeadlinePassesBeforeLastAttempt_CountOneOsqueryRetry()
    {
        var requested = Apply(null, new RefetchEvent.Requested(), s_linux);
        _clock.Advance(s_linux.PickupTimeout);

        var retried = Apply(requested, new RefetchEvent.DeadlineReached(null), s_linux);

        Assert.Equal(2, retried.Attempt);
        Assert.Equal([RefetchRetries.Osquery], RefetchRetries.Between(requested, retried));
    }

    [Fact]
    public void Retries_WhenLastAttemptFailsOrANewEpochStarts_CountNone()
    {
        var requested = Apply(null, new RefetchEvent.Requested(), s_linux);
        _clock.Advance(s_linux.PickupTimeout);
        var retried = Apply(requested, new RefetchEvent.DeadlineReached(null), s_linux);
        _clock.Advance(retried.Deadline!.Value - _clock.GetUtcNow());

        var failed = Apply(retried, new RefetchEvent.DeadlineReached(null), s_linux);
        var next = Apply(failed, new RefetchEvent.Requested(), s_linux);

        Assert.Equal(RefetchStatus.Failed, failed.Status);
        Assert.Empty(RefetchRetries.Between(retried, failed));
        Assert.Equal(2, next.Epoch);
        Assert.Empty(RefetchRetries.Between(failed, next));
        Assert.Empty(RefetchRetries.Between(null, requested));
    }

    [Fact]
    public void Retries_WhenDeviceAnswersMdmError_CountOneMdmRetryAndNoOsqueryRetry()
    {
        var requested = Apply(null, new RefetchEvent.Requested(Command), s_mac);

        var retried = Apply(requested, new RefetchEvent.MdmAnswered(1, new Reason(ReasonCodes.MdmError, "Error"), NextCommand), s_mac);

        Assert.Equal(2, retried.Mdm!.Attempt);
        Assert.Equal(1, retried.Osquery!.Attempt);
        Assert.Equal([RefetchRetries.Mdm], RefetchRetries.Between(requested, retried));
    }

    private RefetchRecord Apply(RefetchRecord? current, RefetchEvent evt, RefetchPolicy policy) =>
        RefetchMachine.Apply(current, evt, policy, _clock.GetUtcNow()).Refetch!;
}
