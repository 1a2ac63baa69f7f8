using System.Net;
using System.Text;
using System.Text.Json;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>
/// Carries a <see cref="MacDevice"/>'s messages to the Api the way macOS does: check-ins with
/// <c>PUT /mdm/checkin</c>, and a session on <c>PUT /mdm/connect</c> that starts with <c>Idle</c> and sends one
/// report per command until the server answers with an empty body. Every request presents the Mac's identity
/// through <paramref name="transport"/>; a 401 or 403 is counted as an identity refusal.
/// </summary>
public sealed class MdmClient(MdmTransport transport)
{
    /// <summary>A session that has not ended after this many commands is cut off: the server keeps resending.</summary>
    public const int MaxCommandsPerSession = 100;

    private const string CheckInType = "application/x-apple-aspen-mdm-checkin";
    private const string ConnectType = "application/x-apple-aspen-mdm";

    // The longest problem detail quoted in an error.
    private const int MaxDetailLength = 300;

    private long _unauthorized;
    private long _forbidden;

    /// <summary>Requests the Api refused with 401: no certificate it accepts (missing, untrusted, expired, replaced).</summary>
    public long Unauthorized => Interlocked.Read(ref _unauthorized);

    /// <summary>Requests the Api refused with 403: a valid certificate that belongs to another device.</summary>
    public long Forbidden => Interlocked.Read(ref _forbidden);

    /// <summary>Enrolls: <c>Authenticate</c>, then <c>TokenUpdate</c>.</summary>
    /// <exception cref="HttpRequestException">The Api refused or could not be reached.</exception>
    public async Task EnrollAsync(MacDevice mac, CancellationToken cancellationToken)
    {
        await PutAsync(mac, "mdm/checkin", CheckInType, mac.AuthenticateMessage(), cancellationToken);
        await PutAsync(mac, "mdm/checkin", CheckInType, mac.TokenUpdateMessage(), cancellationToken);
    }

    /// <summary>Runs one session; returns the number of commands the Mac answered.</summary>
    public async Task<int> RunSessionAsync(MacDevice mac, CancellationToken cancellationToken)
    {
        var report = mac.BeginSession();
        var commands = 0;
        try
        {
            while (report is not null)
            {
                var command = await PutAsync(mac, "mdm/connect", ConnectType, report, cancellationToken);
                mac.ReportSent();
                if (command.Length == 0)
                {
                    break;
                }

                if (++commands > MaxCommandsPerSession)
                {
                    throw new InvalidDataException($"mdm/connect: still sending commands after {MaxCommandsPerSession} in one session");
                }

                report = mac.Answer(command).Report;
            }
        }
        finally
        {
            mac.EndSession();
        }

        return commands;
    }

    private async Task<string> PutAsync(
        MacDevice mac, string path, string contentType, string body, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await transport.PutAsync(mac, path, contentType, Encoding.UTF8.GetBytes(body), cancellationToken);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                _ = response.StatusCode == HttpStatusCode.Unauthorized
                    ? Interlocked.Increment(ref _unauthorized)
                    : Interlocked.Increment(ref _forbidden);
                var detail = await ProblemDetailAsync(response, cancellationToken);
                throw new HttpRequestException(
                    $"{path}: identity refused, {(int)response.StatusCode} {response.StatusCode}{detail}", null, response.StatusCode);
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new HttpRequestException($"{path}: answered {(int)response.StatusCode} {response.StatusCode}", null, response.StatusCode);
            }

            return (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
        }
        catch (HttpRequestException exception) when (exception.StatusCode is null)
        {
            throw new HttpRequestException($"{path}: {exception.Message} {exception.InnerException?.Message}".TrimEnd(), exception);
        }
        catch (TaskCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{path}: no answer within {transport.Timeout.TotalSeconds:0} s", exception);
        }
    }

    // The Api explains a refusal in a problem+json detail; quote it so the console says why.
    private static async Task<string> ProblemDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            var detail = problem.RootElement.ValueKind == JsonValueKind.Object
                && problem.RootElement.TryGetProperty("detail", out var value)
                && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;

            return string.IsNullOrEmpty(detail) ? "" : ": " + detail[..Math.Min(detail.Length, MaxDetailLength)];
        }
        catch (JsonException)
        {
            return "";
        }
    }
}
