using Fleet.Contracts;

namespace Fleet.Grains.Mdm;

/// <summary>What a command-channel result did to the queue.</summary>
public enum CommandOutcome
{
    /// <summary><c>Acknowledged</c>, <c>Error</c> or <c>CommandFormatError</c>: the command left the queue.</summary>
    Completed,

    /// <summary>The command stays queued, skipped for the rest of this device session.</summary>
    NotNow,

    /// <summary>A result for a command that was already completed: nothing changes.</summary>
    Duplicate,

    /// <summary>A command this host never queued, or one dropped since (for example by re-enrollment).</summary>
    Unknown,
}

/// <summary>The outcome of one result and the command it named, as it was before (completed) or after (NotNow).</summary>
public sealed record CommandResult(CommandOutcome Outcome, QueuedCommand? Command);

/// <summary>
/// A host's MDM command queue over its persisted lists: FIFO by <see cref="QueuedCommand.QueuedAt"/>; a command
/// answered <c>NotNow</c>, or already handed out, in a device session is not offered again in that session.
/// The last <see cref="CompletedLimit"/> completed UUIDs let a resent result be told from an unknown one.
/// </summary>
public sealed class CommandQueue(List<QueuedCommand> commands, List<string> completed)
{
    public const int CompletedLimit = 32;

    public int Count => commands.Count;

    public IReadOnlyList<QueuedCommand> Commands => commands;

    public void Add(QueuedCommand command) => commands.Add(command);

    public QueuedCommand? Find(string commandUuid) => commands.Find(c => c.CommandUuid == commandUuid);

    public bool Drop(string commandUuid) => commands.RemoveAll(c => c.CommandUuid == commandUuid) > 0;

    /// <summary>Drops the commands a refetch queued for <paramref name="epoch"/>.</summary>
    public int DropEpoch(int epoch) => commands.RemoveAll(c => c.Epoch == epoch);

    /// <summary>Re-enrollment or check-out: every queued command is forgotten, and its UUID becomes unknown.</summary>
    public void Clear() => commands.Clear();

    /// <summary>Records the device's answer to <paramref name="commandUuid"/> in device session <paramref name="session"/>.</summary>
    public CommandResult Record(string commandUuid, MdmResultStatus status, long session)
    {
        var index = commands.FindIndex(c => c.CommandUuid == commandUuid);
        if (index < 0)
        {
            var outcome = completed.Contains(commandUuid, StringComparer.Ordinal) ? CommandOutcome.Duplicate : CommandOutcome.Unknown;

            return new CommandResult(outcome, null);
        }

        var command = commands[index];
        if (status == MdmResultStatus.NotNow)
        {
            var deferred = command with { NotNowInSession = session, NotNowCount = command.NotNowCount + 1 };
            commands[index] = deferred;

            return new CommandResult(CommandOutcome.NotNow, deferred);
        }

        commands.RemoveAt(index);
        completed.Add(commandUuid);
        if (completed.Count > CompletedLimit)
        {
            completed.RemoveRange(0, completed.Count - CompletedLimit);
        }

        return new CommandResult(CommandOutcome.Completed, command);
    }

    /// <summary>
    /// The command to hand to the device in <paramref name="session"/>, marked as sent; null when every
    /// queued command was already answered NotNow or handed out in this session.
    /// </summary>
    public QueuedCommand? Next(long session, DateTimeOffset now)
    {
        // Commands never handed out go first, then those handed out in an earlier session and never answered
        // (a lost acknowledgement): one command the device keeps dropping must not hold up all that follow it.
        var index = -1;
        for (var i = 0; i < commands.Count; i++)
        {
            var candidate = commands[i];
            var offerable = candidate.NotNowInSession != session && candidate.SentInSession != session;
            if (offerable && (index < 0 || OfferedBefore(candidate, commands[index])))
            {
                index = i;
            }
        }

        if (index < 0)
        {
            return null;
        }

        var sent = commands[index] with { SentAt = now, SentInSession = session };
        commands[index] = sent;

        return sent;
    }

    private static bool OfferedBefore(QueuedCommand candidate, QueuedCommand best) =>
        (candidate.SentAt is null) != (best.SentAt is null)
            ? candidate.SentAt is null
            : candidate.QueuedAt < best.QueuedAt;
}
