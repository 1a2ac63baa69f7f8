using Fleet.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Fleet.Grains.Idempotency;

/// <summary>
/// One operator's idempotency key. The claim of a running request lives in memory only: the grain has one
/// activation in the cluster, whichever Api process asks, and a claim lost with its silo costs at most a retry
/// that runs again. The answer is stored before it is acknowledged, and a reminder deletes it once it expires.
/// </summary>
internal sealed partial class IdempotencyGrain(
    [PersistentState("idempotency", FleetStorage.IdempotencyStore)] IPersistentState<IdempotencyRecord> store,
    IOptionsMonitor<IdempotencyOptions> options,
    IOptions<ReminderOptions> reminders,
    TimeProvider time,
    ILogger<IdempotencyGrain> logger) : Grain, IIdempotencyGrain, IRemindable
{
    private const string ExpiryReminder = "idempotency-expiry";

    private (string Fingerprint, DateTimeOffset Since)? _claim;

    private IdempotencyRecord Record => store.State;

    async Task<IdempotencyBegin> IIdempotencyGrain.BeginAsync(string fingerprint)
    {
        var now = time.GetUtcNow();
        if (Record.Answer is not null && Expired(now))
        {
            await ForgetAsync();
        }

        if (Record.Answer is { } answer)
        {
            return Record.Fingerprint == fingerprint
                ? new IdempotencyBegin(IdempotencyOutcome.Replay, answer)
                : new IdempotencyBegin(IdempotencyOutcome.Mismatch, null);
        }

        if (_claim is { } claim && now < claim.Since + options.CurrentValue.ClaimTimeout)
        {
            var outcome = claim.Fingerprint == fingerprint ? IdempotencyOutcome.InProgress : IdempotencyOutcome.Mismatch;

            return new IdempotencyBegin(outcome, null);
        }

        _claim = (fingerprint, now);

        return new IdempotencyBegin(IdempotencyOutcome.Run, null);
    }

    async Task IIdempotencyGrain.CompleteAsync(string fingerprint, IdempotentAnswer answer)
    {
        if (_claim?.Fingerprint != fingerprint || Record.Answer is not null)
        {
            // The claim timed out and another request took the key; the first stored answer stands.
            LogLateAnswer(answer.Status);
            return;
        }

        _claim = null;
        Record.Fingerprint = fingerprint;
        Record.Answer = answer;
        Record.AnsweredAt = time.GetUtcNow();
        var period = options.CurrentValue.Retention < reminders.Value.MinimumReminderPeriod
            ? reminders.Value.MinimumReminderPeriod
            : options.CurrentValue.Retention;
        await this.RegisterOrUpdateReminder(ExpiryReminder, period, period);
        try
        {
            await store.WriteStateAsync();
        }
        catch (Exception exception)
        {
            // Not stored: a retry runs the request again, as it would without a key.
            LogWriteFailed(answer.Status, exception);
            Record.Answer = null;
            Record.Fingerprint = null;
            DeactivateOnIdle();
            throw;
        }
    }

    Task IIdempotencyGrain.ReleaseAsync(string fingerprint)
    {
        if (_claim?.Fingerprint == fingerprint)
        {
            _claim = null;
        }

        return Task.CompletedTask;
    }

    async Task IRemindable.ReceiveReminder(string reminderName, TickStatus status)
    {
        // At-least-once and possibly early: the stored answer's age decides.
        if (reminderName == ExpiryReminder && (Record.Answer is null || Expired(time.GetUtcNow())))
        {
            await ForgetAsync();
            DeactivateOnIdle();
        }
    }

    private bool Expired(DateTimeOffset now) => now >= Record.AnsweredAt + options.CurrentValue.Retention;

    private async Task ForgetAsync()
    {
        if (store.RecordExists)
        {
            await store.ClearStateAsync();
        }

        store.State = new IdempotencyRecord();
        if (await this.GetReminder(ExpiryReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        LogForgotten();
    }

    [LoggerMessage(EventId = 800, Level = LogLevel.Debug, Message = "Idempotency key expired; its answer is forgotten")]
    private partial void LogForgotten();

    [LoggerMessage(EventId = 801, Level = LogLevel.Warning,
        Message = "Idempotency key: an answer ({Status}) came after its claim had timed out; the first stored answer stands")]
    private partial void LogLateAnswer(int status);

    [LoggerMessage(EventId = 802, Level = LogLevel.Error,
        Message = "Idempotency key: the answer ({Status}) could not be stored; a retry will run the request again")]
    private partial void LogWriteFailed(int status, Exception exception);
}
