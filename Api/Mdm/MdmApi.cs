using Fleet.Api.Hosting;
using Fleet.Api.Mdm.Identity;
using Fleet.Api.Mdm.Plist;
using Fleet.Api.Security;
using Fleet.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Fleet.Api.Mdm;

/// <summary>
/// Apple's MDM protocol: the check-in URL, the server (command) URL, and one URL that serves both by
/// content type as nanomdm does. Bodies are XML property lists. A command report the server cannot use
/// still gets 200, because a device resends any other answer forever; a check-in it cannot read gets 400.
/// Before either rule, every request is authenticated by its identity certificate (<see cref="MdmAuthenticator"/>):
/// a request that fails gets 401 or 403 and changes nothing.
/// </summary>
public static partial class MdmApi
{
    public const string CheckInContentType = "application/x-apple-aspen-mdm-checkin";
    public const string CommandContentType = "application/x-apple-aspen-mdm";
    public const string CommandResponseContentType = "application/xml";

    /// <summary>Real check-ins are under 3 KiB.</summary>
    public const int MaxCheckInBytes = 64 * 1024;

    /// <summary>ProfileList answers and certificate lists run to hundreds of KiB on managed Macs.</summary>
    public const int MaxReportBytes = 2 * 1024 * 1024;

    public static RouteGroupBuilder MapMdmApi(this IEndpointRouteBuilder app)
    {
        var mdm = app.MapGroup("/mdm").AllowAnonymous().WithTags("MDM").RequireRateLimiting(RateLimits.Mdm);

        mdm.MapPut("/checkin", CheckInAsync);
        mdm.MapPut("/connect", ConnectAsync);
        mdm.MapPut("/", DispatchAsync);

        return mdm;
    }

    private static Task<IResult> CheckInAsync(HttpContext context, IGrainFactory grains, MdmAuthenticator authenticator, ILoggerFactory loggers)
    {
        var device = new Device(grains, authenticator, Logger(loggers));

        return IsMediaType(context.Request, CheckInContentType)
            ? HandleCheckInAsync(context, device)
            : Task.FromResult<IResult>(UnsupportedMediaType(context, device.Logger, CheckInContentType));
    }

    private static Task<IResult> ConnectAsync(HttpContext context, IGrainFactory grains, MdmAuthenticator authenticator, ILoggerFactory loggers)
    {
        var device = new Device(grains, authenticator, Logger(loggers));

        return IsMediaType(context.Request, CommandContentType)
            ? HandleReportAsync(context, device)
            : Task.FromResult<IResult>(UnsupportedMediaType(context, device.Logger, CommandContentType));
    }

    private static Task<IResult> DispatchAsync(HttpContext context, IGrainFactory grains, MdmAuthenticator authenticator, ILoggerFactory loggers)
    {
        var device = new Device(grains, authenticator, Logger(loggers));
        if (IsMediaType(context.Request, CheckInContentType))
        {
            return HandleCheckInAsync(context, device);
        }

        return IsMediaType(context.Request, CommandContentType)
            ? HandleReportAsync(context, device)
            : Task.FromResult<IResult>(UnsupportedMediaType(context, device.Logger, $"{CheckInContentType} or {CommandContentType}"));
    }

    private static async Task<IResult> HandleCheckInAsync(HttpContext context, Device device)
    {
        var logger = device.Logger;
        var read = await ReadMessageAsync(context, device, MaxCheckInBytes);
        if (read.Refusal is { } refusal)
        {
            return refusal;
        }

        if (read.Problem is { } unreadable)
        {
            return BadCheckIn(logger, read.Claimed, unreadable);
        }

        var (message, hostId) = (read.Message!, read.HostId!);
        var messageType = message.GetString("MessageType");
        if (messageType == MdmDecoding.UserAuthenticate)
        {
            LogUserChannelDeclined(logger, hostId);
            return TypedResults.Problem(
                "This server manages devices only; the user channel is declined.", statusCode: StatusCodes.Status410Gone, title: "Gone");
        }

        if (!MdmDecoding.TryCheckInType(messageType, out var type) || message["UserID"] is not null)
        {
            LogCheckInIgnored(logger, hostId, messageType ?? "(none)", message["UserID"] is null
                ? "the MessageType is not one this server handles"
                : "user-channel check-ins are not handled");
            return TypedResults.Ok();
        }

        var checkIn = MdmDecoding.CheckIn(hostId, type, message);
        if (checkIn.Error is { } error)
        {
            return BadCheckIn(logger, hostId, error);
        }

        var result = await device.Grains.GetGrain<IHostGrain>(hostId).MdmCheckInAsync(checkIn.Value! with { Certificate = read.Certificate });
        if (device.Authenticator.Refusal(result.Identity, hostId, read.Certificate!, result.Problem) is { } refused)
        {
            return refused;
        }

        if (result.Problem is { } problem)
        {
            LogCheckInIgnored(logger, hostId, messageType!, problem);
        }
        else
        {
            LogCheckIn(logger, hostId, messageType!);
        }

        return TypedResults.Ok();
    }

    private static async Task<IResult> HandleReportAsync(HttpContext context, Device device)
    {
        var logger = device.Logger;
        var read = await ReadMessageAsync(context, device, MaxReportBytes);
        if (read.Refusal is { } refusal)
        {
            return refusal;
        }

        if (read.Problem is { } unusable)
        {
            return UnusableReport(logger, read.Claimed, unusable);
        }

        var (message, hostId) = (read.Message!, read.HostId!);
        var report = MdmDecoding.Report(hostId, message);
        if (report.Error is { } error)
        {
            return UnusableReport(logger, hostId, error);
        }

        var result = await device.Grains.GetGrain<IHostGrain>(hostId).MdmReportAsync(report.Value! with { Certificate = read.Certificate });
        if (device.Authenticator.Refusal(result.Identity, hostId, read.Certificate!, result.Problem) is { } refused)
        {
            return refused;
        }

        if (result.Problem is { } problem)
        {
            LogReportUnusable(logger, hostId, problem);
        }
        else
        {
            LogReport(logger, hostId, report.Value!.Status, report.Value.CommandUuid, result.Next?.Kind);
        }

        return result.Next is { } next
            ? TypedResults.Bytes(PlistWriter.Write(MdmCommandPlists.Render(next)), CommandResponseContentType)
            : TypedResults.Ok();
    }

    /// <summary>
    /// Reads the body, parses it, resolves the device it claims to be, and authenticates it: the one place
    /// every MDM request passes. Authentication needs only the body bytes and the claimed UDID, so an
    /// unreadable body is refused for its certificate before the rules for bad input apply.
    /// </summary>
    private static async Task<DeviceMessage> ReadMessageAsync(HttpContext context, Device device, int maxBytes)
    {
        var body = await RequestBodies.ReadAsync(context.Request, maxBytes);
        if (body is null)
        {
            return new DeviceMessage { Refusal = TooLarge(context, device.Logger, maxBytes) };
        }

        var parsed = Parse(context, body, maxBytes);
        var authentication = await device.Authenticator.AuthenticateAsync(context, body, parsed.HostId, parsed.Claimed);

        return authentication.Refusal is { } refusal
            ? new DeviceMessage { Refusal = refusal }
            : parsed with { Certificate = authentication.Certificate };
    }

    private static DeviceMessage Parse(HttpContext context, byte[] body, int maxBytes)
    {
        PlistValue root;
        try
        {
            root = PlistReader.Read(body, new PlistLimits(maxBytes));
        }
        catch (PlistFormatException exception)
        {
            return new DeviceMessage { Problem = $"the body is not a readable property list ({exception.Message})" };
        }

        if (root is not PlistDict message)
        {
            return new DeviceMessage { Problem = "the property list's root is not a dictionary" };
        }

        if (!MdmDeviceIdentity.TryResolve(context, message, out var hostId, out var claimed))
        {
            return new DeviceMessage
            {
                Claimed = claimed,
                Problem = claimed is null ? "it names no UDID" : "its UDID is not a hardware id",
            };
        }

        return new DeviceMessage { Message = message, HostId = hostId, Claimed = claimed };
    }

    private static bool IsMediaType(HttpRequest request, string expected) =>
        MediaTypeHeaderValue.TryParse(request.ContentType, out var parsed)
        && string.Equals(parsed.MediaType.Value, expected, StringComparison.OrdinalIgnoreCase);

    private static ProblemHttpResult UnsupportedMediaType(HttpContext context, ILogger logger, string expected)
    {
        var sent = context.Request.ContentType is { } type ? Shorten(type) : "(none)";
        LogUnsupportedMediaType(logger, context.Request.Path, sent);

        return TypedResults.Problem(
            $"Content-Type was '{sent}'; this URL takes {expected}.",
            statusCode: StatusCodes.Status415UnsupportedMediaType,
            title: "Unsupported media type");
    }

    private static ProblemHttpResult TooLarge(HttpContext context, ILogger logger, int limit)
    {
        LogTooLarge(logger, context.Request.Path, limit);

        return TypedResults.Problem(
            $"The body is larger than {limit} bytes.",
            statusCode: StatusCodes.Status413PayloadTooLarge,
            title: "Payload too large");
    }

    private static ProblemHttpResult BadCheckIn(ILogger logger, string? udid, string why)
    {
        LogCheckInRefused(logger, udid ?? "(unknown)", why);

        return TypedResults.Problem(
            $"The check-in was refused: {why.TrimEnd('.')}.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid check-in");
    }

    private static Ok UnusableReport(ILogger logger, string? udid, string why)
    {
        LogReportUnusable(logger, udid ?? "(unknown)", why);

        return TypedResults.Ok();
    }

    private static string Shorten(string value) => value.Length <= 80 ? value : value[..80] + "…";

    private static ILogger Logger(ILoggerFactory loggers) => loggers.CreateLogger(typeof(MdmApi));

    /// <summary>The services every MDM handler uses.</summary>
    private readonly record struct Device(IGrainFactory Grains, MdmAuthenticator Authenticator, ILogger Logger);

    [LoggerMessage(EventId = 500, Level = LogLevel.Debug, Message = "MDM check-in {MessageType} from {HostId}")]
    private static partial void LogCheckIn(ILogger logger, string hostId, string messageType);

    [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "MDM check-in from UDID {Udid} refused: {Reason}")]
    private static partial void LogCheckInRefused(ILogger logger, string udid, string reason);

    [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "MDM check-in {MessageType} from UDID {Udid} not used: {Reason}")]
    private static partial void LogCheckInIgnored(ILogger logger, string udid, string messageType, string reason);

    [LoggerMessage(EventId = 503, Level = LogLevel.Debug, Message = "MDM UserAuthenticate from {HostId} declined with 410")]
    private static partial void LogUserChannelDeclined(ILogger logger, string hostId);

    [LoggerMessage(EventId = 504, Level = LogLevel.Debug, Message = "MDM report {Status} for command {CommandUuid} from {HostId}; next command {Next}")]
    private static partial void LogReport(ILogger logger, string hostId, MdmResultStatus status, string? commandUuid, MdmCommandKind? next);

    [LoggerMessage(EventId = 505, Level = LogLevel.Warning, Message = "MDM report from UDID {Udid} not used: {Reason}")]
    private static partial void LogReportUnusable(ILogger logger, string udid, string reason);

    [LoggerMessage(EventId = 506, Level = LogLevel.Warning, Message = "MDM {Path}: refused Content-Type '{ContentType}'")]
    private static partial void LogUnsupportedMediaType(ILogger logger, string path, string contentType);

    [LoggerMessage(EventId = 507, Level = LogLevel.Warning, Message = "MDM {Path}: refused a body over {Limit} bytes")]
    private static partial void LogTooLarge(ILogger logger, string path, int limit);
}

/// <summary>An MDM request body after reading: the message and its host, or why there is none.</summary>
internal readonly record struct DeviceMessage
{
    public PlistDict? Message { get; init; }

    public string? HostId { get; init; }

    /// <summary>The UDID the message claimed, shortened for logs; null when it named none.</summary>
    public string? Claimed { get; init; }

    /// <summary>An answer given whatever the URL's rules for bad input (413 for a body over the limit).</summary>
    public IResult? Refusal { get; init; }

    public string? Problem { get; init; }

    /// <summary>The authenticated identity certificate's facts, for the host to compare with its record.</summary>
    public DeviceCertificate? Certificate { get; init; }
}
