using System.Text.Json;

namespace Fleet.Api.Operators;

/// <summary>
/// Refuses a JSON body whose strings are not Unicode text (invalid UTF-8 bytes, lone surrogate escapes) with a
/// 400 problem. System.Text.Json binds such a body and throws only when a handler reads the string, which would
/// otherwise surface as a 500.
/// </summary>
internal static class JsonTextFilter
{
    public static RouteHandlerBuilder RefusesInvalidJsonText(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            if (context.Arguments.Any(a => a is JsonElement body && !IsText(body)))
            {
                return TypedResults.Problem(Problems.Invalid("body", "contains a string that is not valid UTF-8 or UTF-16 text."));
            }

            return await next(context);
        });

    private static bool IsText(JsonElement element)
    {
        try
        {
            Read(element);

            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    // Bodies are bounded by the JSON depth limit, so the recursion is too.
    private static void Read(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Read(item);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    Read(property.Value);
                }

                break;
        }
    }
}
