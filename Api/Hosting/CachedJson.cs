using System.Text;

namespace Fleet.Api.Hosting;

/// <summary>
/// A 200 answer whose JSON never changes, serialized once. Agents check in every few seconds and most of
/// their answers are the same few bytes, so serializing them on every request only costs CPU.
/// </summary>
internal sealed class CachedJson : IResult, IStatusCodeHttpResult, IContentTypeHttpResult
{
    /// <summary>What <c>TypedResults.Json</c> and <c>TypedResults.Ok</c> send, so the answer reads the same.</summary>
    public const string JsonContentType = "application/json; charset=utf-8";

    private readonly byte[] _body;

    public CachedJson(string json) => _body = Encoding.UTF8.GetBytes(json);

    public int? StatusCode => StatusCodes.Status200OK;

    public string ContentType => JsonContentType;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = JsonContentType;
        response.ContentLength = _body.Length;
        await response.BodyWriter.WriteAsync(_body, httpContext.RequestAborted);
    }
}
