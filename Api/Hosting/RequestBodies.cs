namespace Fleet.Api.Hosting;

internal static class RequestBodies
{
    /// <summary>
    /// The whole body, or null as soon as it proves longer than <paramref name="limit"/> (by its Content-Length, or
    /// while it is read, for a chunked body), so an oversized body is never held whole.
    /// </summary>
    public static async Task<byte[]?> ReadAsync(HttpRequest request, int limit)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        using var body = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted) is var read and > 0)
        {
            if (body.Length + read > limit)
            {
                return null;
            }

            body.Write(chunk, 0, read);
        }

        return body.ToArray();
    }
}
