using Fleet.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(ClusterFixture))]
