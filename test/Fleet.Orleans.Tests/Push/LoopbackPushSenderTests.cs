using Microsoft.Extensions.Logging;
using System.Net;
using System.Net.Sockets;
using Fleet.Contracts;
using Fleet.Grains;
using Fleet.Grains.Mdm;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Tests.Push;

public sealed class LoopbackPushSenderTests : IDisposable
{
    private static readonly DateTimeOffset s_start = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);
    private static readonly MdmPushTarget s_target = new(
        "1ba7c90066c50f77689a24f3a425caf68a300f729e88e460a9416022d5d642cc",
        "888CEB39-BFFA-40F6-89FA-B60752EB63C2",
        "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9");

    private readonly FakeTimeProvider _clock = new(s_start);
    private readonly List<ServiceProvider> _providers = [];

    public void Dispose()
    {
        foreach (var provider in _providers)
        {
            provider.Dispose();
        }
    }

    [Fact]
    public async Task Send_WhenGatewayAnswers200_PostsTheApnsShapedRequestAndSucceeds()
    {
        await using var gateway = await PushGatewayStub.StartAsync();
        var sender = CreateSender(gateway.Url);

        var result = await sender.SendAsync(s_target, TestContext.Current.CancellationToken);

        Assert.Equal(PushResult.Sent, result);
        var push = Assert.Single(gateway.Received);
        Assert.Equal(
            new ReceivedPush("POST", "/3/device/" + s_target.Token, s_target.Topic, "mdm",
                """{"mdm":"888CEB39-BFFA-40F6-89FA-B60752EB63C2"}"""),
            push);
    }

    [Fact]
    public async Task Send_SuccessfulOrRefused_NeverLogsTheDeviceToken()
    {
        await using var gateway = await PushGatewayStub.StartAsync();
        var logs = new Fleet.Tests.Mdm.CapturedLogs();
        var sender = CreateSender(gateway.Url, logs: logs);

        await sender.SendAsync(s_target, TestContext.Current.CancellationToken);
        gateway.Status = HttpStatusCode.Gone;
        gateway.Reason = "Unregistered";
        await sender.SendAsync(s_target, TestContext.Current.CancellationToken);

        Assert.Equal(2, gateway.Received.Count);
        Assert.Contains(logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("410 Unregistered", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains(s_target.Token, StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData(HttpStatusCode.BadRequest, "BadDeviceToken", PushFailureKind.InvalidDeviceToken,
        "push gateway no longer knows the device's token (400 BadDeviceToken)")]
    [InlineData(HttpStatusCode.Gone, "Unregistered", PushFailureKind.InvalidDeviceToken,
        "push gateway no longer knows the device's token (410 Unregistered)")]
    [InlineData(HttpStatusCode.Forbidden, "ExpiredProviderToken", PushFailureKind.CertificateExpired,
        "push gateway refused the push certificate as expired (403 ExpiredProviderToken)")]
    [InlineData(HttpStatusCode.Forbidden, "CertificateExpired", PushFailureKind.CertificateExpired,
        "push gateway refused the push certificate as expired (403 CertificateExpired)")]
    [InlineData(HttpStatusCode.Forbidden, "BadCertificate", PushFailureKind.Rejected,
        "push gateway answered 403 BadCertificate")]
    [InlineData(HttpStatusCode.BadRequest, "DeviceTokenNotForTopic", PushFailureKind.Rejected,
        "push gateway answered 400 DeviceTokenNotForTopic")]
    [InlineData(HttpStatusCode.TooManyRequests, "TooManyRequests", PushFailureKind.Rejected,
        "push gateway answered 429 TooManyRequests")]
    [InlineData(HttpStatusCode.InternalServerError, null, PushFailureKind.Rejected,
        "push gateway answered 500 with no reason")]
    public async Task Send_WhenGatewayRefuses_MapsStatusAndReason(
        HttpStatusCode status, string? reason, PushFailureKind expectedKind, string expectedMessage)
    {
        await using var gateway = await PushGatewayStub.StartAsync();
        gateway.Status = status;
        gateway.Reason = reason;
        var sender = CreateSender(gateway.Url);

        var result = await sender.SendAsync(s_target, TestContext.Current.CancellationToken);

        Assert.Equal(PushResult.Failed(expectedKind, expectedMessage), result);
        Assert.Single(gateway.Received);
    }

    [Fact]
    public async Task Send_WhenGatewayNeverAnswers_IsUnreachableExactlyAtTheTimeout()
    {
        await using var gateway = await PushGatewayStub.StartAsync();
        gateway.Hang = true;
        var sender = CreateSender(gateway.Url, timeout: "00:00:03");

        var sending = sender.SendAsync(s_target, TestContext.Current.CancellationToken);
        await gateway.Hanging.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        _clock.Advance(TimeSpan.FromSeconds(3) - TimeSpan.FromTicks(1));
        var beforeTimeout = sending.IsCompleted;
        _clock.Advance(TimeSpan.FromTicks(1));
        var result = await sending.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.False(beforeTimeout, "the push finished one tick before its 3 s timeout");
        Assert.Equal(
            PushResult.Failed(PushFailureKind.Unreachable, $"push gateway at {gateway.Url} unreachable: no answer within 3 s"),
            result);
    }

    [Fact]
    public async Task Send_WhenNothingListens_IsUnreachableWithTheSocketError()
    {
        var closed = ClosedLoopbackPort();
        var sender = CreateSender(new Uri($"http://127.0.0.1:{closed}"));

        var result = await sender.SendAsync(s_target, TestContext.Current.CancellationToken);

        Assert.Equal(PushFailureKind.Unreachable, result.Failure);
        Assert.StartsWith($"push gateway at http://127.0.0.1:{closed}/ unreachable: ", result.Message, StringComparison.Ordinal);
        Assert.Contains("Connection refused", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_FromTheCertificateExpiry_FailsWithoutARequest()
    {
        await using var gateway = await PushGatewayStub.StartAsync();
        var notAfter = s_start.AddHours(1);
        var sender = CreateSender(gateway.Url, certificateNotAfter: "2026-03-02T10:00:00Z");

        _clock.SetUtcNow(notAfter - TimeSpan.FromTicks(1));
        var beforeExpiry = await sender.SendAsync(s_target, TestContext.Current.CancellationToken);
        _clock.SetUtcNow(notAfter);
        var atExpiry = await sender.SendAsync(s_target, TestContext.Current.CancellationToken);

        Assert.Equal(PushResult.Sent, beforeExpiry);
        Assert.Equal(
            PushResult.Failed(PushFailureKind.CertificateExpired, "push certificate expired at 2026-03-02T10:00:00.0000000+00:00"),
            atExpiry);
        Assert.Single(gateway.Received);
    }

    [Fact]
    public async Task Send_WithATokenThatIsNotHex_FailsWithoutARequest()
    {
        await using var gateway = await PushGatewayStub.StartAsync();
        var sender = CreateSender(gateway.Url);

        var result = await sender.SendAsync(s_target with { Token = "../../admin" }, TestContext.Current.CancellationToken);

        Assert.Equal(
            PushResult.Failed(PushFailureKind.InvalidDeviceToken, "the device's push token is not hexadecimal"), result);
        Assert.Empty(gateway.Received);
    }

    [Theory]
    [InlineData("GatewayUrl", "push.example", "Fleet:Mdm:Push:GatewayUrl must be an absolute http or https address (was 'push.example').")]
    [InlineData("GatewayUrl", "ftp://127.0.0.1/", "Fleet:Mdm:Push:GatewayUrl must be an absolute http or https address (was 'ftp://127.0.0.1/').")]
    [InlineData("Timeout", "00:00:00", "Fleet:Mdm:Push:Timeout must be positive (was 00:00:00).")]
    [InlineData("Timeout", "00:05:00", "Fleet:Mdm:Push:Timeout must be at most 00:01:00 (was 00:05:00).")]
    [InlineData("RepushBackoff", "-00:00:01", "Fleet:Mdm:Push:RepushBackoff must be positive (was -00:00:01).")]
    [InlineData("MaxRepushBackoff", "00:00:30", "Fleet:Mdm:Push:MaxRepushBackoff (00:00:30) must be at least RepushBackoff (00:01:00).")]
    [InlineData("RepushBackof", "00:00:05",
        "Fleet:Mdm:Push:RepushBackof is not a setting; use GatewayUrl, Timeout, CertificateNotAfter, RepushBackoff, MaxRepushBackoff.")]
    public void Options_WithABadValue_FailAtStartNamingTheKey(string key, string value, string expected)
    {
        using var services = Services(new() { ["Fleet:Mdm:Push:" + key] = value });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<PushOptions>>().Value);

        Assert.Equal([expected], error.Failures);
    }

    [Fact]
    public void Options_FromConfiguration_BindAllFiveSettings()
    {
        using var services = Services(new()
        {
            ["Fleet:Mdm:Push:GatewayUrl"] = "http://127.0.0.1:2297",
            ["Fleet:Mdm:Push:Timeout"] = "00:00:02",
            ["Fleet:Mdm:Push:CertificateNotAfter"] = "2026-03-02T10:00:00Z",
            ["Fleet:Mdm:Push:RepushBackoff"] = "00:00:30",
            ["Fleet:Mdm:Push:MaxRepushBackoff"] = "00:10:00",
        });

        var options = services.GetRequiredService<IOptions<PushOptions>>().Value;

        Assert.Equal(new Uri("http://127.0.0.1:2297"), options.GatewayUrl);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Timeout);
        Assert.Equal(new DateTimeOffset(2026, 3, 2, 10, 0, 0, TimeSpan.Zero), options.CertificateNotAfter);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RepushBackoff);
        Assert.Equal(TimeSpan.FromMinutes(10), options.MaxRepushBackoff);
        Assert.IsType<LoopbackPushSender>(services.GetRequiredService<IPushSender>());
    }

    private IPushSender CreateSender(
        Uri gateway, string timeout = "00:00:05", string? certificateNotAfter = null, ILoggerProvider? logs = null)
    {
        var services = Services(logs, new()
        {
            ["Fleet:Mdm:Push:GatewayUrl"] = gateway.AbsoluteUri,
            ["Fleet:Mdm:Push:Timeout"] = timeout,
            ["Fleet:Mdm:Push:CertificateNotAfter"] = certificateNotAfter,
        });
        _providers.Add(services);

        return services.GetRequiredService<IPushSender>();
    }

    private ServiceProvider Services(Dictionary<string, string?> settings) => Services(null, settings);

    private ServiceProvider Services(ILoggerProvider? logs, Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection()
            .AddLogging(logging =>
            {
                logging.SetMinimumLevel(LogLevel.Trace);
                if (logs is not null)
                {
                    logging.AddProvider(logs);
                }
            })
            .AddSingleton<TimeProvider>(_clock);
        services.AddFleetGrains(configuration);

        return services.BuildServiceProvider();
    }

    // A port the system handed out and took back: nothing listens there for the rest of the test.
    private static int ClosedLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        return port;
    }
}
