using System.Text;
using Fleet.Contracts;
using Fleet.Grains.Webhooks;

namespace Fleet.Tests.Webhooks;

/// <summary>The signature header and the event's identity, checked against independent computations.</summary>
public sealed class WebhookSignatureTests
{
    private static readonly DateTimeOffset s_now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly byte[] s_body = Encoding.UTF8.GetBytes("{\"id\":\"evt_1\",\"type\":\"host.failed\"}");

    [Fact]
    public void Header_MatchesAKnownVector()
    {
        // HMAC-SHA256(key "key", "1700000000." + "{}"), computed with openssl:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        var header = WebhookSignature.Header("key"u8, 1_700_000_000, "{}"u8);

        Assert.Equal("t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae", header);
    }

    [Fact]
    public void Header_VerifiesWithTheReceiversCheck()
    {
        var header = WebhookSignature.Header(Encoding.UTF8.GetBytes(WebhookReceiver.Secret), s_now.ToUnixTimeSeconds(), s_body);

        Assert.True(WebhookReceiver.Verifies(header, s_body, s_now));
    }

    [Fact]
    public void Header_OnAChangedBody_OrWithAnotherSecret_OrTooOld_DoesNotVerify()
    {
        var secret = Encoding.UTF8.GetBytes(WebhookReceiver.Secret);
        var header = WebhookSignature.Header(secret, s_now.ToUnixTimeSeconds(), s_body);
        byte[] changed = [.. s_body[..^1], (byte)' ', (byte)'}'];

        Assert.False(WebhookReceiver.Verifies(header, changed, s_now));
        Assert.False(WebhookReceiver.Verifies(header, s_body, s_now, "another-secret-0123456789"));
        Assert.False(WebhookReceiver.Verifies(header, s_body, s_now + WebhookReceiver.Tolerance + TimeSpan.FromSeconds(1)));
        Assert.True(WebhookReceiver.Verifies(header, s_body, s_now + WebhookReceiver.Tolerance));
    }

    [Fact]
    public void IdOf_IsStablePerHostRevisionAndType()
    {
        var id = WebhookEvents.IdOf("HOST-1", 7, WebhookEvents.Failed);

        Assert.Equal(id, WebhookEvents.IdOf("HOST-1", 7, WebhookEvents.Failed));
        Assert.NotEqual(id, WebhookEvents.IdOf("HOST-1", 8, WebhookEvents.Failed));
        Assert.NotEqual(id, WebhookEvents.IdOf("HOST-1", 7, WebhookEvents.Recovered));
        Assert.NotEqual(id, WebhookEvents.IdOf("HOST-2", 7, WebhookEvents.Failed));
        Assert.Matches("^evt_[0-9a-f]{32}$", id);
    }

    [Theory]
    [InlineData(HostAlert.None, null)]
    [InlineData(HostAlert.Failed, "host.failed")]
    [InlineData(HostAlert.Recovered, "host.recovered")]
    public void TypeOf_OnlyFailedAndRecovered_RaiseAnEvent(HostAlert alert, string? expected) =>
        Assert.Equal(expected, WebhookEvents.TypeOf(alert));
}
