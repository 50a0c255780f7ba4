import Operations
import ToolRunner
import Journal
import WorkModel
import WireFormat
import Synchronization

/// Fires `onStall` when no whole event has arrived for `limit`: a stream kept open by a trickle of bytes is as
/// stalled as a silent one. One timer task per stream, waking about four times per `limit`.
final class StreamWatchdog: Sendable {
    /// What the stream and the timer task share.
    private final class Progress: Sendable {
        struct State {
            var lastProgress = ContinuousClock.now
            var fired = false
        }

        let state = Mutex(State())
    }

    let limit: Duration
    private let progress = Progress()
    private let timer: Task<Void, Never>

    init(limit: Duration, onStall: @escaping @Sendable () -> Void) {
        self.limit = limit
        let progress = self.progress
        timer = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: limit / 4) } catch { return }
                let stalled = progress.state.withLock { state -> Bool in
                    guard !state.fired, ContinuousClock.now - state.lastProgress > limit else { return false }
                    state.fired = true
                    return true
                }
                if stalled {
                    onStall()
                    return
                }
            }
        }
    }

    /// An event arrived.
    func progressed() { progress.state.withLock { $0.lastProgress = .now } }

    /// Whether the watchdog ended the stream.
    var fired: Bool { progress.state.withLock { $0.fired } }

    func stop() { timer.cancel() }
}

/// A stream that delivered no whole event for the idle time-out (silent, or trickling bytes).
struct StreamStalled: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "no complete event for \(limit.milliseconds) ms; the stream stalled or trickles bytes" }
}
