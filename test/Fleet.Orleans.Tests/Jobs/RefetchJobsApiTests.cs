using System.Net;
using System.Text.Json.Nodes;
using Fleet.Tests.Events;
using Fleet.Tests.Infrastructure;
using static Fleet.Tests.Api.ApiTestKit;
using static Fleet.Tests.Jobs.JobTestKit;

namespace Fleet.Tests.Jobs;

/// <summary>The refetch job endpoints: input checks, roles, the job JSON and its event stream.</summary>
public sealed class RefetchJobsApiTests(JobsFixture fixture) : IClassFixture<JobsFixture>
{
    private const string Jobs = "/api/v1/refetch_jobs";

    [Theory]
    [InlineData("[]", "body")]
    [InlineData("{}", "filter")]
    [InlineData("{\"rate\": 10}", "filter")]
    [InlineData("{\"filter\": {}, \"host_ids\": [\"9F0A2C1E-5B7D-4E21-8C3A-2D6F1B0E4A97\"]}", "filter")]
    [InlineData("{\"filter\": {}, \"rate\": 0}", "rate")]
    [InlineData("{\"filter\": {}, \"rates\": 10}", "body")]
    [InlineData("{\"filter\": {}, \"rate\": 5001}", "rate")]
    [InlineData("{\"filter\": {}, \"rate\": 2.5}", "rate")]
    [InlineData("{\"filter\": {}, \"rate\": \"fast\"}", "rate")]
    [InlineData("{\"host_ids\": []}", "host_ids")]
    [InlineData("{\"host_ids\": [\"not-a-uuid\"]}", "host_ids")]
    [InlineData("{\"host_ids\": \"9F0A2C1E-5B7D-4E21-8C3A-2D6F1B0E4A97\"}", "host_ids")]
    [InlineData("{\"filter\": []}", "filter")]
    [InlineData("{\"filter\": {\"colour\": \"red\"}}", "filter")]
    [InlineData("{\"filter\": {\"status\": \"stuck\"}}", "filter.status")]
    [InlineData("{\"filter\": {\"platform\": \"\"}}", "filter.platform")]
    [InlineData("{\"filter\": {\"team_id\": \"a b\"}}", "filter.team_id")]
    [InlineData("{\"filter\": {\"os_settings\": \"done\"}}", "filter.os_settings")]
    [InlineData("{\"filter\": {\"last_seen_before\": \"2026-12-01T00:00:00\"}}", "filter.last_seen_before")]
    [InlineData("{\"filter\": {\"certificate_expires_within_days\": 3651}}", "filter.certificate_expires_within_days")]
    [InlineData("{\"filter\": {\"platform\": 7}}", "filter.platform")]
    public async Task Post_WithABadBody_Returns400NamingTheField(string body, string field)
    {
        using var http = fixture.OperatorClient();

        using var response = await http.PostJsonAsync(Jobs, body);

        await ExpectInvalidParameterAsync(response, field, $"POST {body}");
    }

    [Fact]
    public async Task Post_WithMoreThanAThousandIds_Returns400()
    {
        using var http = fixture.OperatorClient();
        var ids = new JsonArray([.. Enumerable.Range(0, 1001).Select(_ => (JsonNode)Guid.NewGuid().ToString())]);

        using var response = await http.PostJsonAsync(Jobs, new JsonObject { ["host_ids"] = ids }.ToJsonString());

        await ExpectInvalidParameterAsync(response, "host_ids", "POST 1001 host ids");
    }

    [Fact]
    public async Task ObserverToken_ReadsJobs_ButCannotStartOrCancelThem()
    {
        using var maintainer = fixture.OperatorClient();
        using var observer = fixture.OperatorClient(ApiFactory.ObserverToken);
        var host = (await EnrollAsync(fixture.Grains, WindowsDetails, 1))[0];
        using var started = await maintainer.PostJsonAsync(Jobs, $"{{\"host_ids\": [\"{host.Id}\"]}}");
        var job = await ExpectStatusAsync(started, HttpStatusCode.Accepted, "POST one host");

        using var post = await observer.PostJsonAsync(Jobs, "{\"filter\": {}}");
        using var delete = await observer.DeleteAsync($"{Jobs}/{Text(job, "job_id")}", TestAborted);
        using var get = await observer.GetAsync($"{Jobs}/{Text(job, "job_id")}", TestAborted);

        await ExpectProblemAsync(post, HttpStatusCode.Forbidden, "Forbidden", "observer POST");
        await ExpectProblemAsync(delete, HttpStatusCode.Forbidden, "Forbidden", "observer DELETE");
        await ExpectStatusAsync(get, HttpStatusCode.OK, "observer GET");
    }

    [Fact]
    public async Task Post_WithHostIds_Returns202WithLocationAndTheJob_ThenGetAndDeleteAnswerIt()
    {
        using var http = fixture.OperatorClient();
        var hosts = await EnrollAsync(fixture.Grains, Mac15Details, 2);
        var body = new JsonObject
        {
            ["host_ids"] = new JsonArray([.. hosts.Select(h => (JsonNode)h.Id.ToLowerInvariant()), hosts[0].Id]),
            ["rate"] = 7,
        };

        using var response = await http.PostJsonAsync(Jobs, body.ToJsonString());
        var job = await ExpectStatusAsync(response, HttpStatusCode.Accepted, "POST two hosts");
        var jobId = Text(job, "job_id")!;
        var read = await WaitForJsonAsync(http, jobId, j => Int(j, "requested") == 2, "two requested");
        using var cancel = await http.DeleteAsync($"{Jobs}/{jobId}", TestAborted);
        var cancelled = await ExpectStatusAsync(cancel, HttpStatusCode.OK, "DELETE");

        Assert.Matches("^[0-9a-f]{32}$", jobId);
        Assert.Equal($"/api/v1/refetch_jobs/{jobId}", response.Headers.Location?.OriginalString);
        Assert.Equal<(string?, int?, int?, int?)>(("running", 7, 2, 2), (Text(job, "state"), Int(job, "rate"), Int(job, "host_ids"), Int(job, "matched")));
        Assert.Null(job["filter"]);
        Assert.Null(job["finished_at"]);
        Assert.Equal<(int?, int?, int?)>((2, 0, 0), (Int(read, "pending"), Int(read, "unknown"), Int(read, "superseded")));
        Assert.Equal("cancelled", Text(cancelled, "state"));
        Assert.NotNull(cancelled["finished_at"]);
        Assert.Equal(2, Int(cancelled, "requested"));
    }

    [Fact]
    public async Task Post_WithAFilter_EchoesItNormalised_AndTheDefaultRate()
    {
        using var http = fixture.OperatorClient();
        var team = $"api-{Guid.NewGuid():N}"[..20];

        using var response = await http.PostJsonAsync(
            Jobs, $"{{\"filter\": {{\"status\": \"FAILED\", \"team_id\": \"{team}\", \"certificate_expires_within_days\": 30, \"last_seen_before\": \"2026-12-01T00:00:00+02:00\"}}}}");
        var job = await ExpectStatusAsync(response, HttpStatusCode.Accepted, "POST a filter");

        Assert.Equal(50, Int(job, "rate"));
        Assert.Null(job["host_ids"]);
        var expected = JsonNode.Parse(
            $"{{\"status\":\"failed\",\"team_id\":\"{team}\",\"last_seen_before\":\"2026-11-30T22:00:00+00:00\",\"certificate_expires_within_days\":30}}");
        Assert.True(JsonNode.DeepEquals(expected, job["filter"]), $"filter echoed as {job["filter"]?.ToJsonString()}");
    }

    [Fact]
    public async Task GetAndDelete_OfAnUnknownOrMalformedJob_Return404Or400()
    {
        using var http = fixture.OperatorClient();
        var unknown = NewJobId();

        using var get = await http.GetAsync($"{Jobs}/{unknown}", TestAborted);
        using var delete = await http.DeleteAsync($"{Jobs}/{unknown}", TestAborted);
        using var events = await http.GetAsync($"{Jobs}/{unknown}/events", TestAborted);
        using var malformed = await http.GetAsync($"{Jobs}/{unknown.ToUpperInvariant()}", TestAborted);

        await ExpectProblemAsync(get, HttpStatusCode.NotFound, "Unknown refetch job", "GET unknown job");
        await ExpectProblemAsync(delete, HttpStatusCode.NotFound, "Unknown refetch job", "DELETE unknown job");
        await ExpectProblemAsync(events, HttpStatusCode.NotFound, "Unknown refetch job", "events of unknown job");
        await ExpectInvalidParameterAsync(malformed, "job_id", "GET upper-case job id");
    }

    [Fact]
    public async Task Events_SendProgressAtOnce_ThenDoneWhenTheJobCompletes()
    {
        using var http = fixture.OperatorClient(ApiFactory.MaintainerToken);
        var hosts = await EnrollAsync(fixture.Grains, WindowsDetails, 3);
        using var started = await http.PostJsonAsync(Jobs, new JsonObject { ["host_ids"] = new JsonArray([.. hosts.Select(h => (JsonNode)h.Id)]) }.ToJsonString());
        var jobId = Text(await ExpectStatusAsync(started, HttpStatusCode.Accepted, "POST three hosts"), "job_id");

        await using var stream = await SseClient.OpenAsync(http, $"{Jobs}/{jobId}/events");
        var first = await stream.ReadAsync(TimeSpan.FromSeconds(5), "first event");
        var records = new List<SseRecord> { first };
        while (records[^1].EventType != "done")
        {
            records.Add(await stream.ReadAsync(TimeSpan.FromSeconds(20), "next event"));
        }

        var done = records[^1].Json;
        Assert.Equal("progress", first.EventType);
        Assert.Equal(jobId, Text(first.Json, "job_id"));
        Assert.All(records[..^1], r => Assert.Equal("progress", r.EventType));
        Assert.Equal<(string?, int?, int?, int?)>(("completed", 3, 3, 0), (Text(done, "state"), Int(done, "requested"), Int(done, "failed"), Int(done, "pending")));
    }

    private static async Task<JsonObject> WaitForJsonAsync(HttpClient http, string jobId, Func<JsonObject, bool> done, string what)
    {
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            using var response = await http.GetAsync($"{Jobs}/{jobId}", TestAborted);
            var job = await ExpectStatusAsync(response, HttpStatusCode.OK, $"GET job {jobId}");
            if (done(job))
            {
                return job;
            }

            Assert.False(cancellation.IsCancellationRequested, $"job {jobId}: {what} not reached; last {job.ToJsonString()}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), TestAborted);
        }
    }
}
