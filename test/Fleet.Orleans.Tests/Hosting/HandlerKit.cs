using Fleet.Api.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fleet.Tests.Hosting;

/// <summary>The Api's exception handler on its own, with a request whose response can be read back.</summary>
internal static class HandlerKit
{
    public static (ClusterUnavailableHandler Handler, DefaultHttpContext Context) Create()
    {
        var services = new ServiceCollection().AddLogging().AddProblemDetails().BuildServiceProvider();
        var handler = new ClusterUnavailableHandler(
            services.GetRequiredService<IProblemDetailsService>(), NullLogger<ClusterUnavailableHandler>.Instance);
        var context = new DefaultHttpContext { RequestServices = services };
        context.Response.Body = new MemoryStream();

        return (handler, context);
    }
}
