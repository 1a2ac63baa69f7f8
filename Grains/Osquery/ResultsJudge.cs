using Fleet.Contracts;

namespace Fleet.Grains.Osquery;

/// <summary>Decides what a <c>distributed/write</c> means for the refetch: complete, failed, or neither.</summary>
public static class ResultsJudge
{
    public static RefetchEventArgs Judge(DetailResults results, string? platform)
    {
        foreach (var (name, status) in results.Statuses)
        {
            if (status != 0 && DetailQueries.TryGet(name, out var query) && query.ErrorFailsRefetch)
            {
                var message = results.Messages.GetValueOrDefault(name);
                var detail = string.IsNullOrWhiteSpace(message) ? $"status {status}" : message.Trim();
                if (detail.Length > 300)
                {
                    detail = detail[..300] + "…";
                }

                return new(false, new Reason(
                    ReasonCodes.AgentError,
                    $"The agent reported an error for detail query {name}: {detail}."));
            }
        }

        var complete = DetailQueries.For(platform)
            .Where(q => q.Required)
            .All(q => results.Rows.ContainsKey(q.Name) && results.Statuses.GetValueOrDefault(q.Name) == 0);

        return new(complete, null);
    }
}

/// <summary>The verdict of <see cref="ResultsJudge"/>.</summary>
public readonly record struct RefetchEventArgs(bool Complete, Reason? Failure);
