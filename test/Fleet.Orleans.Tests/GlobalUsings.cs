global using Microsoft.Extensions.DependencyInjection;
global using Microsoft.Extensions.Logging;
global using Orleans;
global using Orleans.Hosting;
global using Xunit;
