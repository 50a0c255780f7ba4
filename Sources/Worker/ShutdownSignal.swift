import Operations
import ToolRunner
import Journal
import WorkModel
import WireFormat
import Synchronization

/// A one-way switch for a graceful stop, with hooks to interrupt what waits on the network.
///
/// Once triggered, drivers stop before their next stream, and open streams are aborted through their hooks;
/// running handlers are not interrupted (the service's grace period bounds them).
public final class ShutdownSignal: Sendable {
    private struct State {
        var triggered = false
        var nextID = 0
        var hooks: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var isTriggered: Bool { state.withLock { $0.triggered } }

    /// Triggers the stop (once) and runs every registered hook.
    public func trigger() {
        let hooks = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.triggered else { return [] }
            state.triggered = true
            defer { state.hooks.removeAll() }
            return Array(state.hooks.values)
        }
        for hook in hooks { hook() }
    }

    /// Registers `hook` to run on trigger; runs it at once (and returns `nil`) if already triggered.
    public func register(_ hook: @escaping @Sendable () -> Void) -> Int? {
        let id = state.withLock { state -> Int? in
            guard !state.triggered else { return nil }
            state.nextID += 1
            state.hooks[state.nextID] = hook
            return state.nextID
        }
        if id == nil { hook() }
        return id
    }

    public func unregister(_ id: Int?) {
        guard let id else { return }
        _ = state.withLock { $0.hooks.removeValue(forKey: id) }
    }
}
