using Orleans.Storage;

namespace Fleet.Grains;

/// <summary>
/// A grain-state write that never acknowledges what storage did not take. The table client already retried
/// what failed in passing (see <c>Fleet:Cluster:StorageRetries</c>); what still fails is handed to the grain,
/// which logs it and drops its activation so the next call starts from what was stored, then rethrows so the
/// caller (the Api: 503, or 409 for a conflict) never reports success.
/// </summary>
internal static class StateWrites
{
    public static async Task WriteOrDropAsync<T>(this IPersistentState<T> store, Action<Exception, string> drop)
    {
        try
        {
            await store.WriteStateAsync();
        }
        catch (Exception exception)
        {
            drop(exception, Reason(exception));
            throw;
        }
    }

    /// <summary>
    /// An ETag conflict means another activation of the same grain wrote since this one read: overwriting would
    /// lose its change, so the state is re-read by a fresh activation instead.
    /// </summary>
    public static string Reason(Exception exception) => exception is InconsistentStateException
        ? "another activation wrote it first (ETag conflict); state will be re-read"
        : "storage did not take it";
}
