using System.Diagnostics.Metrics;

namespace Fleet.Silo.Diagnostics;

/// <summary>
/// This process's grain activations by grain type (<c>host</c>, <c>hostindexshard</c>, ...), read on demand from
/// Orleans' own <c>orleans-catalog-activations</c> gauge. Reading it needs no grain call: the management grain's
/// statistics went through the silo's message queues and timed out after 30 s (HTTP 500 from
/// <c>/debug/memory</c>) while thousands of idle hosts were being deactivated, which is when the numbers matter.
/// </summary>
public sealed class ActivationCounter : IDisposable
{
    /// <summary>The meter Orleans publishes its runtime instruments on.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>Orleans' gauge of live activations, one measurement per grain type.</summary>
    public const string ActivationsInstrument = "orleans-catalog-activations";

    /// <summary>The tag naming the grain type of a measurement.</summary>
    public const string GrainTypeTag = "grain_type";

    private readonly Lock _lock = new();
    private readonly MeterListener _listener = new();
    private Dictionary<string, long> _counting = new(StringComparer.Ordinal);

    public ActivationCounter(string meterName = OrleansMeter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName && instrument.Name == ActivationsInstrument)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>Live activations by grain type; types with none are left out.</summary>
    public IReadOnlyDictionary<string, long> Snapshot()
    {
        lock (_lock)
        {
            _counting = new Dictionary<string, long>(StringComparer.Ordinal);
            _listener.RecordObservableInstruments();

            return _counting.Where(c => c.Value != 0).ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
        }
    }

    public void Dispose() => _listener.Dispose();

    // Called synchronously from RecordObservableInstruments, under the lock; a process with several silos sums them.
    private void OnMeasurement(Instrument instrument, int count, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        foreach (var tag in tags)
        {
            if (tag is { Key: GrainTypeTag, Value: string grainType })
            {
                _counting[grainType] = _counting.GetValueOrDefault(grainType) + count;

                return;
            }
        }
    }
}
