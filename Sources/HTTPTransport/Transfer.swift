import WireFormat
import Synchronization

/// The state one HTTP transfer shares between the libcurl loop thread (which fills it) and the task reading the
/// response (which drains it). Every field lives behind one mutex; continuations are resumed outside no lock of
/// libcurl's, so neither side ever blocks the other for longer than a field update.
final class Transfer: Sendable {
    struct State {
        var statusLine: Int?
        var headerLines: [(name: String, value: String)] = []
        var head: HTTPResponseHead?
        var headWaiter: CheckedContinuation<HTTPResponseHead, any Error>?
        var chunks: [[UInt8]] = []
        var buffered = 0
        var paused = false
        var resumeRequested = false
        var completion: Result<Void, TransportError>?
        var bodyWaiter: CheckedContinuation<[UInt8]?, any Error>?
        var lastActivity = ContinuousClock.now
    }

    let id: Int
    /// Bytes buffered before libcurl is asked to pause the transfer (backpressure).
    let highWater: Int
    let state = Mutex(State())
    private let loop: CurlMultiLoop

    init(id: Int, highWater: Int, loop: CurlMultiLoop) {
        self.id = id
        self.highWater = highWater
        self.loop = loop
    }

    // MARK: Loop-thread side

    /// A header line from libcurl. A status line starts a new header block (redirects, 100-continue); the blank
    /// line after a final (≥ 200) status completes the head.
    func receiveHeaderLine(_ line: String) {
        let trimmed = line.trimmingTrailingNewline()
        var waiter: CheckedContinuation<HTTPResponseHead, any Error>?
        var head: HTTPResponseHead?
        state.withLock { state in
            state.lastActivity = .now
            if trimmed.hasPrefix("HTTP/") {
                let parts = trimmed.split(separator: " ", maxSplits: 2)
                state.statusLine = parts.count > 1 ? Int(parts[1]) : nil
                state.headerLines.removeAll()
            } else if trimmed.isEmpty {
                if let status = state.statusLine, status >= 200, state.head == nil {
                    head = HTTPResponseHead(status: status, headers: state.headerLines)
                    state.head = head
                    waiter = state.headWaiter
                    state.headWaiter = nil
                }
            } else if let colon = trimmed.firstIndex(of: ":") {
                let name = String(trimmed[..<colon])
                let value = trimmed[trimmed.index(after: colon)...].trimmingSpaces()
                state.headerLines.append((name, value))
            }
        }
        if let waiter, let head { waiter.resume(returning: head) }
    }

    /// Body bytes from libcurl. Returns `false` when the buffer is full: the caller then pauses the transfer and
    /// libcurl delivers the same bytes again after it resumes.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
        var chunk: [UInt8] = []
        let accepted = state.withLock { state -> Bool in
            state.lastActivity = .now
            if state.buffered >= highWater && state.bodyWaiter == nil {
                state.paused = true
                state.resumeRequested = false
                return false
            }
            if let bodyWaiter = state.bodyWaiter {
                waiter = bodyWaiter
                state.bodyWaiter = nil
                chunk = Array(bytes)
            } else {
                state.chunks.append(Array(bytes))
                state.buffered += bytes.count
            }
            return true
        }
        waiter?.resume(returning: chunk)
        return accepted
    }

    /// The transfer ended (successfully or not); wakes whoever waits.
    func complete(_ result: Result<Void, TransportError>) {
        var headWaiter: CheckedContinuation<HTTPResponseHead, any Error>?
        var bodyWaiter: CheckedContinuation<[UInt8]?, any Error>?
        var headError: TransportError?
        state.withLock { state in
            guard state.completion == nil else { return }
            state.completion = result
            headWaiter = state.headWaiter
            state.headWaiter = nil
            if headWaiter != nil {
                if case .failure(let error) = result {
                    headError = error
                } else if state.head == nil {
                    // A response without a final blank header line (HTTP/0.9-like); report what we have.
                    state.head = HTTPResponseHead(status: state.statusLine ?? 0, headers: state.headerLines)
                }
            }
            if state.chunks.isEmpty {
                bodyWaiter = state.bodyWaiter
                state.bodyWaiter = nil
            }
        }
        if let headWaiter {
            if let headError {
                headWaiter.resume(throwing: headError)
            } else {
                headWaiter.resume(returning: state.withLock { $0.head! })
            }
        }
        if let bodyWaiter {
            switch result {
            case .success: bodyWaiter.resume(returning: nil)
            case .failure(let error): bodyWaiter.resume(throwing: error)
            }
        }
    }

    /// Seconds since the last byte, when the transfer is running and not paused by us (a paused transfer is
    /// waiting for its reader, not stalled).
    func idleTime(now: ContinuousClock.Instant) -> Duration? {
        state.withLock { state in
            guard state.completion == nil, !state.paused else { return nil }
            return now - state.lastActivity
        }
    }

    // MARK: Reader side

    /// Waits for the response head.
    func head() async throws -> HTTPResponseHead {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponseHead, any Error>) in
                let immediate: Result<HTTPResponseHead, TransportError>? = state.withLock { state in
                    if let head = state.head { return .success(head) }
                    if case .failure(let error)? = state.completion { return .failure(error) }
                    if state.completion != nil {
                        return .success(HTTPResponseHead(status: state.statusLine ?? 0, headers: state.headerLines))
                    }
                    state.headWaiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The next bytes of the body (everything buffered, joined), or `nil` at the end.
    func nextChunk() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
                var resume = false
                let immediate: Result<[UInt8]?, TransportError>? = state.withLock { state in
                    if !state.chunks.isEmpty {
                        var joined = state.chunks[0]
                        if state.chunks.count > 1 {
                            // One copy per chunk (`Array(chunks.joined())` copied byte by byte).
                            joined.reserveCapacity(state.buffered)
                            for chunk in state.chunks.dropFirst() { joined.append(contentsOf: chunk) }
                        }
                        state.chunks.removeAll(keepingCapacity: true)
                        state.buffered = 0
                        if state.paused && !state.resumeRequested {
                            state.resumeRequested = true
                            resume = true
                        }
                        return .success(joined)
                    }
                    switch state.completion {
                    case .success?: return .success(nil)
                    case .failure(let error)?: return .failure(error)
                    case nil:
                        state.bodyWaiter = continuation
                        if state.paused && !state.resumeRequested {
                            state.resumeRequested = true
                            resume = true
                        }
                        return nil
                    }
                }
                if resume { loop.resume(self) }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Aborts the transfer; a reader waiting on it gets ``TransportError/Kind/cancelled``.
    func cancel() {
        loop.cancel(self)
    }

    /// Called by the loop once libcurl has unpaused the transfer.
    func didResume() {
        state.withLock { state in
            state.paused = false
            state.resumeRequested = false
            state.lastActivity = .now
        }
    }
}

extension String {
    func trimmingTrailingNewline() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == "\r" || last == "\r\n" { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
