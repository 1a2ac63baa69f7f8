using Fleet.Contracts;

namespace Fleet.Grains.Events;

/// <summary>
/// Takes the events host grains publish on this silo. Called inside a grain's turn: an implementation
/// must return at once, never block and never throw (a full queue drops and counts, it does not wait).
/// Every registered sink receives every event.
/// </summary>
public interface IHostEventSink
{
    void Publish(HostEvent hostEvent);
}
