using Fleet.Contracts;
using Fleet.Grains.Mdm;

namespace Fleet.Tests.Mdm;

public sealed class CommandQueueTests
{
    private static readonly DateTimeOffset s_start = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private readonly List<QueuedCommand> _commands = [];
    private readonly List<string> _completed = [];

    private CommandQueue Queue => new(_commands, _completed);

    private QueuedCommand Add(string uuid, MdmCommandKind kind, int secondsAfterStart)
    {
        var command = new QueuedCommand { CommandUuid = uuid, Kind = kind, QueuedAt = s_start.AddSeconds(secondsAfterStart) };
        Queue.Add(command);

        return command;
    }

    [Fact]
    public void Next_OffersTheOldestCommandFirstAndMarksItSent()
    {
        Add("B", MdmCommandKind.ProfileList, 2);
        Add("A", MdmCommandKind.DeviceInformation, 1);

        var next = Queue.Next(session: 1, s_start.AddSeconds(10));

        Assert.Equal("A", next!.CommandUuid);
        Assert.Equal(s_start.AddSeconds(10), next.SentAt);
        Assert.Equal(1, next.SentInSession);
        Assert.Equal(next, Queue.Find("A"));
    }

    [Fact]
    public void NotNow_SkipsTheCommandForTheRestOfTheSessionAndOffersItInTheNext()
    {
        Add("A", MdmCommandKind.DeviceInformation, 1);
        Add("B", MdmCommandKind.ProfileList, 2);
        Queue.Next(1, s_start);

        var notNow = Queue.Record("A", MdmResultStatus.NotNow, session: 1);
        var sameSession = Queue.Next(1, s_start);
        var bAcknowledged = Queue.Record("B", MdmResultStatus.Acknowledged, session: 1);
        var afterB = Queue.Next(1, s_start);
        var nextSession = Queue.Next(2, s_start);

        Assert.Equal(CommandOutcome.NotNow, notNow.Outcome);
        Assert.Equal(1, notNow.Command!.NotNowInSession);
        Assert.Equal(1, notNow.Command.NotNowCount);
        Assert.Equal("B", sameSession!.CommandUuid);
        Assert.Equal(CommandOutcome.Completed, bAcknowledged.Outcome);
        Assert.Null(afterB);
        Assert.Equal("A", nextSession!.CommandUuid);
        Assert.Equal(1, Queue.Count);
    }

    [Fact]
    public void Next_OffersCommandsNeverHandedOutBeforeOneLeftUnanswered()
    {
        Add("A", MdmCommandKind.InstallProfile, 1);
        Add("B", MdmCommandKind.DeviceInformation, 2);
        var first = Queue.Next(1, s_start);

        // The device took A and never answered (a lost acknowledgement); the next session starts.
        var second = Queue.Next(2, s_start);
        var third = Queue.Next(2, s_start);

        Assert.Equal("A", first!.CommandUuid);
        Assert.Equal("B", second!.CommandUuid);
        Assert.Equal("A", third!.CommandUuid);
        Assert.Null(Queue.Next(2, s_start));
    }

    [Fact]
    public void NotNow_IsNeverOfferedBackToBackEvenAsTheOnlyCommand()
    {
        Add("A", MdmCommandKind.DeviceInformation, 1);
        Queue.Next(1, s_start);

        Queue.Record("A", MdmResultStatus.NotNow, 1);

        Assert.Null(Queue.Next(1, s_start));
        Assert.Equal("A", Queue.Next(2, s_start)!.CommandUuid);
        Assert.Equal(CommandOutcome.NotNow, Queue.Record("A", MdmResultStatus.NotNow, 2).Outcome);
        Assert.Equal(2, Queue.Find("A")!.NotNowCount);
    }

    [Fact]
    public void SentButUnanswered_IsOfferedAgainOnlyInALaterSession()
    {
        Add("A", MdmCommandKind.DeviceInformation, 1);
        Queue.Next(1, s_start);

        Assert.Null(Queue.Next(1, s_start));
        Assert.Equal("A", Queue.Next(2, s_start)!.CommandUuid);
    }

    [Theory]
    [InlineData(MdmResultStatus.Acknowledged)]
    [InlineData(MdmResultStatus.Error)]
    [InlineData(MdmResultStatus.CommandFormatError)]
    public void Result_RemovesTheCommandAndAResendIsADuplicate(MdmResultStatus status)
    {
        var queued = Add("A", MdmCommandKind.DeviceInformation, 1);

        var first = Queue.Record("A", status, 1);
        var resent = Queue.Record("A", status, 1);

        Assert.Equal(new CommandResult(CommandOutcome.Completed, queued), first);
        Assert.Equal(new CommandResult(CommandOutcome.Duplicate, null), resent);
        Assert.Equal(0, Queue.Count);
        Assert.Equal(["A"], _completed);
    }

    [Fact]
    public void Result_ForACommandNeverQueued_IsUnknown()
    {
        Add("A", MdmCommandKind.DeviceInformation, 1);

        var result = Queue.Record("Z", MdmResultStatus.Acknowledged, 1);

        Assert.Equal(new CommandResult(CommandOutcome.Unknown, null), result);
        Assert.Equal(1, Queue.Count);
    }

    [Fact]
    public void Clear_MakesTheQueuedUuidsUnknownButKeepsCompletedOnesRecognised()
    {
        Add("A", MdmCommandKind.DeviceInformation, 1);
        Add("B", MdmCommandKind.ProfileList, 2);
        Queue.Record("A", MdmResultStatus.Acknowledged, 1);

        Queue.Clear();

        Assert.Equal(0, Queue.Count);
        Assert.Equal(CommandOutcome.Unknown, Queue.Record("B", MdmResultStatus.Acknowledged, 1).Outcome);
        Assert.Equal(CommandOutcome.Duplicate, Queue.Record("A", MdmResultStatus.Acknowledged, 1).Outcome);
    }

    [Fact]
    public void Completed_KeepsOnlyTheLatestUuids()
    {
        for (var i = 0; i < CommandQueue.CompletedLimit + 3; i++)
        {
            Add($"C{i}", MdmCommandKind.ProfileList, i);
            Queue.Record($"C{i}", MdmResultStatus.Acknowledged, 1);
        }

        Assert.Equal(CommandQueue.CompletedLimit, _completed.Count);
        Assert.Equal("C3", _completed[0]);
        Assert.Equal(CommandOutcome.Unknown, Queue.Record("C2", MdmResultStatus.Acknowledged, 1).Outcome);
        Assert.Equal(CommandOutcome.Duplicate, Queue.Record("C3", MdmResultStatus.Acknowledged, 1).Outcome);
    }

    [Fact]
    public void DropEpoch_RemovesOnlyThatRefetchsCommands()
    {
        Queue.Add(new QueuedCommand { CommandUuid = "A", Kind = MdmCommandKind.DeviceInformation, QueuedAt = s_start, Epoch = 1 });
        Queue.Add(new QueuedCommand { CommandUuid = "B", Kind = MdmCommandKind.ProfileList, QueuedAt = s_start, Epoch = 1 });
        Add("P", MdmCommandKind.InstallProfile, 1);

        Assert.Equal(2, Queue.DropEpoch(1));
        Assert.Equal(["P"], Queue.Commands.Select(c => c.CommandUuid));
    }
}
