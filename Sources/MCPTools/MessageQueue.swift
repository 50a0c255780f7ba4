import Foundation
import Synchronization
import WireFormat

/// The messages an MCP server sent, between what reads them (the thread on a stdio server's stdout, or the tasks
/// reading a Streamable HTTP server's event streams) and the SDK client that takes them: at most `maxBytes` held at
/// once (past that the reader waits, so a flooding server blocks on its own stdout, or its transfer is paused,
/// instead of growing the daemon), and notifications (messages without an `id`) past a rate dropped and counted, so
/// a server that sends millions of them cannot keep its answers waiting behind them either. After the end, what
/// arrives is dropped.
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
        /// Async pushers waiting for room.
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var notifications = TokenBucket(burst: 1000, perSecond: 200)
        var droppedNotifications = 0
    }

    init(maxBytes: Int = 16 << 20) {
        self.maxBytes = maxBytes
    }

    /// How many notifications were dropped for coming too fast (for the log).
    var droppedNotifications: Int { state.withLock { $0.droppedNotifications } }

    /// Adds one message from a reading thread; blocks it while the queue is full.
    func push(_ message: Data) {
        guard admits(message) else { return }
        while !offer(message) { _ = space.wait(timeout: .now() + .milliseconds(100)) }
    }

    /// Adds one message from a task; suspends it while the queue is full.
    func push(_ message: Data) async {
        guard admits(message) else { return }
        while !offer(message) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let roomNow = state.withLock { state in
                    if state.end != nil || state.bytes == 0 || state.bytes + message.count <= maxBytes { return true }
                    state.spaceWaiters.append(continuation)
                    return false
                }
                if roomNow { continuation.resume() }
            }
        }
    }

    /// Whether `message` may be queued at all: not after the end, and a notification only within the rate.
    private func admits(_ message: Data) -> Bool {
        let notification = Self.isNotification(message)
        return state.withLock { state in
            guard state.end == nil else { return false }
            guard notification else { return true }
            if state.notifications.admit(now: .now) { return true }
            state.droppedNotifications += 1
            return false
        }
    }

    /// Hands `message` to a waiting taker or queues it; `false` when there is no room (the caller waits). A
    /// message larger than `maxBytes` is taken into an empty queue, so none is stuck forever; after the end it is
    /// dropped.
    private func offer(_ message: Data) -> Bool {
        let waiter: CheckedContinuation<Data?, any Error>?? = state.withLock { state in
            if state.end != nil { return .some(nil) }
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
        case .some(.some(let continuation)): continuation.resume(returning: message); return true
        case .some(.none): return true
        case .none: return false
        }
    }

    /// Wakes every pusher waiting for room (after a message was taken, or at the end).
    private func signalSpace() {
        let waiters = state.withLock { state in
            defer { state.spaceWaiters = [] }
            return state.spaceWaiters
        }
        for waiter in waiters { waiter.resume() }
        space.signal()
    }

    /// Ends the queue (end of file, or the transport closed): the taker gets `nil`, or `error`, after what is held.
    func finish(throwing error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<Data?, any Error>? in
            if state.end == nil { state.end = .some(error) }
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
        signalSpace()
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
                signalSpace()
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
