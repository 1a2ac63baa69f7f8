using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fleet.Contracts;
using Fleet.Grains.Diagnostics;

namespace Fleet.Grains.Webhooks;

/// <summary>
/// One event ready to send: its id and type (also sent as headers), the exact JSON body that is signed, the
/// host it is about (for logs) and when it was queued (for the latency metric).
/// </summary>
public sealed record WebhookEvent(string Id, string Type, string HostId, ReadOnlyMemory<byte> Body, long QueuedAt);

/// <summary>The JSON a receiver gets. Field names are snake_case, as in the rest of the API.</summary>
public sealed record WebhookPayload(
    string Id,
    string Type,
    string HostId,
    string? Hostname,
    string? Platform,
    string? OsVersion,
    string? TeamId,
    int? Epoch,
    string Status,
    WebhookReason? Reason,
    DateTimeOffset OccurredAt);

/// <summary>Why a host failed, as a machine code and a sentence; absent on recovery.</summary>
public sealed record WebhookReason(string Code, string Message);

/// <summary>Turns a host event into the webhook event it raises, if any.</summary>
public static class WebhookEvents
{
    public const string Failed = "host.failed";
    public const string Recovered = "host.recovered";

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>The type of the webhook event <paramref name="alert"/> raises; null when it raises none.</summary>
    public static string? TypeOf(HostAlert alert) => alert switch
    {
        HostAlert.Failed => Failed,
        HostAlert.Recovered => Recovered,
        _ => null,
    };

    /// <summary>
    /// The same host, revision and alert always give the same id, so an event published again after a
    /// crash, or retried, can be recognised by the receiver. It is a hash so any host id fits in a header.
    /// </summary>
    public static string IdOf(string hostId, long revision, string type)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{hostId}\n{revision}\n{type}"));

        return "evt_" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }

    /// <summary>The payload of <paramref name="hostEvent"/>; null when its alert raises no webhook event.</summary>
    public static WebhookPayload? PayloadOf(HostEvent hostEvent)
    {
        if (TypeOf(hostEvent.Alert) is not { } type)
        {
            return null;
        }

        var host = hostEvent.Host;
        var newest = hostEvent.Transitions.Count > 0 ? hostEvent.Transitions[^1] : null;

        return new WebhookPayload(
            IdOf(host.HostId, host.Revision, type),
            type,
            host.HostId,
            host.Hostname,
            host.Platform,
            host.OsVersion,
            host.TeamId,
            newest?.Epoch,
            Words.Of(host.Status),
            host.Reason is { } reason ? new WebhookReason(reason.Code, reason.Message) : null,
            newest?.At ?? hostEvent.At);
    }

    public static byte[] Serialize(WebhookPayload payload) => JsonSerializer.SerializeToUtf8Bytes(payload, s_json);
}
