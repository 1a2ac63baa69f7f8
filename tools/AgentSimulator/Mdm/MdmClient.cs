using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Fleet.AgentSimulator.Mdm;

/// <summary>
/// Carries a <see cref="MacDevice"/>'s messages to the Api the way macOS does: check-ins with
/// <c>PUT /mdm/checkin</c>, and a session on <c>PUT /mdm/connect</c> that starts with <c>Idle</c> and sends one
/// report per command until the server answers with an empty body.
/// </summary>
public sealed class MdmClient(HttpClient http, Uri api)
{
    /// <summary>A session that has not ended after this many commands is cut off: the server keeps resending.</summary>
    public const int MaxCommandsPerSession = 100;

    private const string CheckInType = "application/x-apple-aspen-mdm-checkin";
    private const string ConnectType = "application/x-apple-aspen-mdm";

    private readonly Uri _api = api.AbsoluteUri.EndsWith('/') ? api : new Uri(api.AbsoluteUri + "/");

    /// <summary>Enrolls: <c>Authenticate</c>, then <c>TokenUpdate</c>.</summary>
    /// <exception cref="HttpRequestException">The Api refused or could not be reached.</exception>
    public async Task EnrollAsync(MacDevice mac, CancellationToken cancellationToken)
    {
        await PutAsync("mdm/checkin", CheckInType, mac.AuthenticateMessage(), cancellationToken);
        await PutAsync("mdm/checkin", CheckInType, mac.TokenUpdateMessage(), cancellationToken);
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
                var command = await PutAsync("mdm/connect", ConnectType, report, cancellationToken);
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

    private async Task<string> PutAsync(string path, string contentType, string body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        try
        {
            using var response = await http.PutAsync(new Uri(_api, path), content, cancellationToken);
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
            throw new TimeoutException($"{path}: no answer within {http.Timeout.TotalSeconds:0} s", exception);
        }
    }
}
