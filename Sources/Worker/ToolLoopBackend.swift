import Journal
import WireFormat
import WorkModel

// The seam between the worker and a wire protocol. `RunDriver` speaks only these types; the Assistants v2
// implementation is `AssistantsBackend` (its own target), and a Responses API backend implements the same two
// protocols. The journal, the dispatcher and the scheduler never see a protocol's types.

/// Where a tool loop (a run; a response) stands, as far as the worker must act on it.
public enum LoopPhase: Sendable, Equatable {
    /// Queued or working at the server: follow its stream, or poll.
    case working
    /// The server waits for the outputs of these calls.
    case needsOutputs([ToolCall])
    /// Over, with this status (never `.suspended`).
    case ended(OutcomeStatus)
}

/// A tool loop's state at the server, reduced to what the worker needs, plus the journal's record of it.
public struct LoopState: Sendable, Equatable {
    /// The server's id of the loop (a run id, a response id).
    public var id: String?
    /// The container the loop lives in, when the protocol has one (an Assistants thread).
    public var threadID: String?
    public var phase: LoopPhase
    /// Unix seconds after which the server expires the loop, if it says.
    public var expiresAt: Int64?
    /// The server's error code for a loop that did not complete (`last_error.code`).
    public var errorCode: String?
    /// Why it did not complete, in words (`last_error`, `incomplete_details`).
    public var detail: String?
    /// The row the journal keeps for it.
    public var record: RunStateRecord
    /// The model the server says serves the loop.
    public var model: String?
    /// The usage of the request this state ends, when it ends one and the server counted it (a Responses response).
    public var usage: RequestUsage?

    public init(
        id: String?, threadID: String?, phase: LoopPhase, expiresAt: Int64? = nil, errorCode: String? = nil,
        detail: String? = nil, record: RunStateRecord, model: String? = nil, usage: RequestUsage? = nil
    ) {
        self.model = model
        self.usage = usage
        self.id = id
        self.threadID = threadID
        self.phase = phase
        self.expiresAt = expiresAt
        self.errorCode = errorCode
        self.detail = detail
        self.record = record
    }

    /// The server's status text (for logs and notes).
    public var serverStatus: String { record.status ?? "?" }
}

/// One event of a loop's stream, normalized: what the journal stores and what the worker learns from it.
public struct LoopEvent: Sendable {
    /// The event as received (numbered by the recorder).
    public var name: String
    public var kind: EventKind
    public var data: String
    public var byteOffset: Int
    public var error: String?
    /// Snapshots the policy keeps after this event (their `eventSeq` is set by the recorder).
    public var snapshots: [SnapshotRecord]
    /// The loop's state, when the event carries it.
    public var state: LoopState? {
        get { carried?.value }
        set { carried = newValue.map(CarriedState.init) }
    }
    /// Held by reference: few events carry a state, and an event travels by value through several async frames,
    /// each of which would otherwise reserve the state's 250 bytes, in every one of thousands of open runs.
    private var carried: CarriedState?
    /// An in-band error the server sent (the stream then usually ends).
    public var failure: LoopError?
    /// A delta (buffered briefly), not a lifecycle event (stored at once).
    public var isDelta: Bool
    /// The usage of a model request this event reports complete (an Assistants run step, a Responses response).
    public var usage: [RequestUsage] = []

    public init(
        name: String, kind: EventKind, data: String, byteOffset: Int, error: String? = nil, snapshots: [SnapshotRecord] = [],
        state: LoopState? = nil, failure: LoopError? = nil, isDelta: Bool = false
    ) {
        self.name = name
        self.kind = kind
        self.data = data
        self.byteOffset = byteOffset
        self.error = error
        self.snapshots = snapshots
        self.carried = state.map(CarriedState.init)
        self.failure = failure
        self.isDelta = isDelta
    }
}

/// A stream of one request (start, submit, resume), read by one task.
public protocol LoopEventStream: AnyObject {
    /// The next event, `nil` at the stream's proper end; throws when the stream breaks.
    func next() async throws -> LoopEvent?
    /// Stops the transfer from any thread (shutdown, a stalled stream): `next()` then throws.
    var abort: @Sendable () -> Void { get }
}

/// Why a backend request failed, in the terms the worker decides on.
public struct LoopError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server answered with an HTTP error.
        case http(status: Int)
        /// No HTTP answer; `mayHaveBeenSent` when the request may have reached the server.
        case transport(mayHaveBeenSent: Bool)
        /// A 2xx answer that is not what the protocol promises (an HTML page instead of a stream).
        case invalidResponse
        /// An argument that cannot be sent.
        case invalidArgument
        /// An error event inside a stream.
        case inBand
        /// The server broke the protocol past repair (an index out of range, a function call without a `call_id`,
        /// a final call whose arguments are cut off): the loop cannot be trusted and ends, or, where
        /// `retryable`, its last request is sent once more.
        case protocolViolation(retryable: Bool)
        case cancelled
        /// Not sent: a start that would have waited this long for its rate limit (the job is parked instead).
        case rateLimited(retryAfter: Duration)
    }

    public var kind: Kind
    /// The API's error code, when it gave one.
    public var code: String?
    public var message: String

    public init(_ kind: Kind, code: String? = nil, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The HTTP status, when the server answered with an error.
    public var status: Int? {
        if case .http(let status) = kind { return status }
        return nil
    }

    /// Whether the server said it does not serve this request at all (LiteLLM's 500 "not supported" for retrieve,
    /// 405, 501): asking again is pointless for the rest of the loop.
    public var isUnsupported: Bool {
        guard let status else { return false }
        if status == 405 || status == 501 { return true }
        guard status >= 400 else { return false }
        let text = message.lowercased()
        return ["not supported", "not implemented", "unsupported"].contains { text.contains($0) }
    }

    /// Whether a submit's answer says the request itself was refused (a 4xx other than time-out, conflict, rate
    /// limit; a 404 for the previous response included): sending it again cannot help.
    public var isDefiniteRefusal: Bool {
        guard let status, (400..<500).contains(status) else { return false }
        return ![408, 409, 429].contains(status) || isQuotaExhausted
    }

    /// Whether the server broke the protocol (see ``Kind/protocolViolation(retryable:)``).
    public var isProtocolViolation: Bool {
        if case .protocolViolation = kind { return true }
        return false
    }

    /// Whether the server may have acted on the request although the answer says otherwise.
    public var mayHaveActed: Bool {
        switch kind {
        case .http(let status): return status >= 500
        case .transport(let sent): return sent
        case .invalidResponse: return true
        case .invalidArgument, .inBand, .protocolViolation, .cancelled, .rateLimited: return false
        }
    }

    /// Whether repeating the request later is worth it (once it is known the server did not act). A key out of
    /// quota (`insufficient_quota`) is not: it stays so until someone pays.
    public var isPassing: Bool {
        switch kind {
        case .http(let status): return !isQuotaExhausted && (status >= 500 || [408, 409, 429].contains(status))
        case .transport: return true
        case .invalidResponse, .invalidArgument, .inBand, .protocolViolation, .cancelled, .rateLimited: return false
        }
    }

    /// Whether another provider may succeed where this one failed to start a loop: the server was unreachable or
    /// failing (transport, 5xx, 408), refused the keys (401, 402, 403), or limited the rate (429, or a start held
    /// back for its rate limit). A request the server found wrong (400, 404, 422) would fail anywhere.
    public var allowsFailover: Bool {
        switch kind {
        case .http(let status): return status >= 500 || [401, 402, 403, 408, 429].contains(status)
        case .transport, .rateLimited: return true
        case .invalidResponse, .invalidArgument, .inBand, .protocolViolation, .cancelled: return false
        }
    }

    /// A 429 whose code says the key's quota is spent, not its rate.
    public var isQuotaExhausted: Bool { status == 429 && code == "insufficient_quota" }

    /// How long a start that was not sent for its rate limit would have waited.
    public var rateLimitWait: Duration? {
        if case .rateLimited(let wait) = kind { return wait }
        return nil
    }

    /// The `error_code` ToolWorker records for a loop it could not start with this error.
    public var startErrorCode: String {
        if case .http(let status) = kind { return code ?? "http_\(status)" }
        if case .rateLimited = kind { return "rate_limited" }
        return "start_failed"
    }
}

/// A wire protocol for tool loops: Assistants v2 runs, Responses API responses.
public protocol ToolLoopBackend: Sendable {
    /// What the rest of ToolWorker knows about the protocol (its name, its container, how a request is checked).
    var descriptor: ProtocolDescriptor { get }
    /// Backoff before repeating a request (the protocol client's retry policy).
    func retryDelay(attempt: Int) -> Duration
    /// How many times a failed start is tried again.
    var maxStartRetries: Int { get }
    /// A stream that delivers no whole event for this long is a stall.
    var idleTimeout: Duration { get }
    /// A conversation with the server about one loop, keeping what it accumulates across its streams. `tools` are
    /// the definitions of the registry the loop's calls are dispatched to (for protocols that send them with each
    /// request).
    func makeSession(policy: SnapshotPolicy, tools: [ToolDefinition]) -> any ToolLoopSession
    /// Whether a submit refused with a definite 4xx ends the round at once (`submit_refused`). A Responses submit
    /// creates a new response, so a 400 is final; an Assistants 400 usually means the run moved on (expired,
    /// cancelled), which reconciling shows.
    var submitRefusalIsFinal: Bool { get }
    /// Asks the server to cancel a loop (`toolworker cancel`); its state after it. `threadID` is the loop's
    /// container as the journal has it.
    func cancel(id: String, threadID: String?) async throws(LoopError) -> LoopState
    /// A loop's state now, outside any session (what `toolworker cancel` records when the cancel is refused).
    func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState
    /// The snapshots `frames` (a loop's stored frames, in order) produce when accumulated again as its streams
    /// accumulated them (`toolworker verify`); a protocol that cannot says nothing.
    func rebuild(_ frames: [StoredFrame]) -> RebuiltLoop
}

extension ToolLoopBackend {
    public var submitRefusalIsFinal: Bool { false }
    public func rebuild(_ frames: [StoredFrame]) -> RebuiltLoop { RebuiltLoop() }
    /// The protocol's name (``ProtocolDescriptor/name``).
    public var protocolName: String { descriptor.name }
    /// See ``ProtocolDescriptor/preparesContainer``.
    public var preparesContainer: Bool { descriptor.preparesContainer }
}

/// One loop's conversation with the server. Used by one task at a time (the driver's).
public protocol ToolLoopSession: AnyObject {
    /// Creates what the loop needs before it starts (an Assistants thread), so an ambiguous failure of the start
    /// can be checked. Returns the container id to store first, or `nil` when the protocol has none or the server
    /// cannot create one.
    func prepare(_ request: RunRequest, runKey: Int64) async throws(LoopError) -> String?
    /// Starts the loop with `stream: true`, tagged with `runKey` in its metadata.
    func start(_ request: RunRequest, runKey: Int64, threadID: String?) async throws(LoopError) -> any LoopEventStream
    /// Submits every output of the round in one streaming request.
    func submit(_ outputs: [ToolOutput], for loop: LoopState) async throws(LoopError) -> any LoopEventStream
    /// The loop's state now.
    func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState
    /// The loop the server holds with `runKey` in its metadata, if any (after a start whose answer was lost).
    func find(runKey: Int64, threadID: String?) async throws(LoopError) -> LoopState?
    /// Which of `callIDs` the server has taken outputs for (after a crash between a submit and its answer).
    func acceptedOutputs(id: String, threadID: String?, among callIDs: Set<String>) async throws(LoopError) -> Set<String>
    /// The final snapshots of everything the loop produced (steps, messages, output items), every page; also
    /// absorbed into the session's snapshots.
    func finalObjects(id: String, threadID: String?) async throws(LoopError) -> [SnapshotRecord]
    /// The usage of the model requests among a loop's final objects (an Assistants run's steps); none by default.
    func usage(inFinal snapshots: [SnapshotRecord]) -> [RequestUsage]
    /// The loop's final answer text, from what the session accumulated.
    var finalText: String? { get }
    /// Re-attaches to the loop's live stream after a drop, continuing after the last event applied (a Responses
    /// background response); `nil` when the protocol cannot, and the driver polls instead.
    func resume(id: String) async throws(LoopError) -> (any LoopEventStream)?
    /// After a restart: what the loop was started with (model, instructions, metadata) and what the journal holds of
    /// its past (for a server that keeps no state), for the requests still to come. Assistants runs need nothing (the
    /// server keeps it).
    func restore(_ request: RunRequest, runKey: Int64, history: LoopHistory)
    /// Sends the latest start or submit request once more, after its answer broke the protocol in a way a second
    /// try may not (a response reported complete with a call cut off); `nil` when the protocol cannot.
    func retryLast() async throws(LoopError) -> (any LoopEventStream)?
}

extension ToolLoopSession {
    public func usage(inFinal snapshots: [SnapshotRecord]) -> [RequestUsage] { [] }
    public func resume(id: String) async throws(LoopError) -> (any LoopEventStream)? { nil }
    public func restore(_ request: RunRequest, runKey: Int64, history: LoopHistory) {}
    public func retryLast() async throws(LoopError) -> (any LoopEventStream)? { nil }
}

/// A ``LoopState`` on the heap (see ``LoopEvent/state``).
private final class CarriedState: Sendable {
    let value: LoopState
    init(_ value: LoopState) { self.value = value }
}
