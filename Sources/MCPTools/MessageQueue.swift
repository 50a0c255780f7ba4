import Foundation
import Synchronization
import WireFormat

/// The messages a stdio MCP server sent, between the thread that reads its stdout and the SDK client that takes
/// them: at most `maxBytes` held at once (past that the reading thread waits, so a flooding server blocks on its
/// own stdout instead of growing the daemon), and notifications (messages without an `id`) past a rate dropped and
/// counted, so a server that sends millions of them cannot keep its answers waiting behind them either.
final class MessageQueue: Sendable {
    let maxBytes: Int
    private let state = Mutex<State>(State())
    private let space = DispatchSemaphore(value: 0)

    private struct State: ~Copyable {
        var messages: [Data] = []
        var head = 0
        var bytes = 0
        var end: (any Error)??
        var waiter: CheckedContinuation<Data?, any Error>?
        var notifications = TokenBucket(burst: 1000, perSecond: 200)
        var droppedNotifications = 0
    }

    init(maxBytes: Int = 16 << 20) {
        self.maxBytes = maxBytes
    }

    /// How many notifications were dropped for coming too fast (for the log).
    var droppedNotifications: Int { state.withLock { $0.droppedNotifications } }

    /// Adds one message (from the reading thread); waits while the queue is full.
    func push(_ message: Data) {
        if Self.isNotification(message) {
            let admitted = state.withLock { state in
                if state.notifications.admit(now: .now) { return true }
                state.droppedNotifications += 1
                return false
            }
            guard admitted else { return }
        }
        while true {
            let waiter: CheckedContinuation<Data?, any Error>?? = state.withLock { state in
                if let waiter = state.waiter {
                    state.waiter = nil
                    return .some(waiter)
                }
                guard state.bytes == 0 || state.bytes + message.count <= maxBytes else { return nil }
                state.messages.append(message)
                state.bytes += message.count
                return .some(nil)
            }
            switch waiter {
            case .some(.some(let continuation)): continuation.resume(returning: message); return
            case .some(.none): return
            case .none: _ = space.wait(timeout: .now() + .milliseconds(100))
            }
        }
    }

    /// Ends the queue (end of file, or the transport closed): the taker gets `nil`, or `error`, after what is held.
    func finish(throwing error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<Data?, any Error>? in
            if state.end == nil { state.end = .some(error) }
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
        space.signal()
    }

    /// The next message, waiting for one; `nil` at the end.
    func next() async throws -> Data? {
        try await withCheckedThrowingContinuation { continuation in
            enum Taken { case message(Data), end((any Error)?), wait }
            let taken: Taken = state.withLock { state in
                if state.head < state.messages.count {
                    let message = state.messages[state.head]
                    state.head += 1
                    state.bytes -= message.count
                    if state.head > 1024 && state.head * 2 > state.messages.count {
                        state.messages.removeFirst(state.head)
                        state.head = 0
                    }
                    return .message(message)
                }
                if let end = state.end { return .end(end) }
                state.waiter = continuation
                return .wait
            }
            switch taken {
            case .message(let message):
                space.signal()
                continuation.resume(returning: message)
            case .end(let error):
                if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: nil) }
            case .wait: break
            }
        }
    }

    /// A JSON-RPC notification: an object with a `method` and no `id`.
    static func isNotification(_ message: Data) -> Bool {
        guard let object = (try? JSONValue(parsing: [UInt8](message)))?.objectValue else { return false }
        return object["id"] == nil && object["method"] != nil
    }
}

/// `burst` at once, refilled at `perSecond`.
struct TokenBucket {
    let burst: Double
    let perSecond: Double
    var tokens: Double
    var last: ContinuousClock.Instant?

    init(burst: Double, perSecond: Double) {
        self.burst = burst
        self.perSecond = perSecond
        tokens = burst
    }

    mutating func admit(now: ContinuousClock.Instant) -> Bool {
        if let last {
            let elapsed = now - last
            tokens = min(burst, tokens + (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * perSecond)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
