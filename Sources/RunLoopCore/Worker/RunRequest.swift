/// What to start: an assistant, and either an existing thread or a first message for a new one.
public struct RunRequest: Sendable, Equatable {
    public var assistantID: String
    /// Run on this thread; `nil` creates a thread (`POST /threads/runs`).
    public var threadID: String?
    /// A user message added before the run starts.
    public var message: String?
    public var instructions: String?
    /// Sent as the run's `metadata` (ToolWorker adds `toolworker_run`, and `toolworker_job` for queued jobs).
    public var metadata: [String: String]
    public var jobID: Int64?
    /// With no thread given: create an empty thread first and the run on it (so an ambiguous failure of the create
    /// can be checked by listing the thread's runs). `false` uses create-thread-and-run directly (a server
    /// without `POST /threads`).
    public var createsThreadFirst = true

    public init(
        assistantID: String, threadID: String? = nil, message: String? = nil, instructions: String? = nil,
        metadata: [String: String] = [:], jobID: Int64? = nil
    ) {
        self.assistantID = assistantID
        self.threadID = threadID
        self.message = message
        self.instructions = instructions
        self.metadata = metadata
        self.jobID = jobID
    }

    /// The request body (without `stream`, which the client adds).
    func body(runKey: Int64) -> JSONObject {
        var body: JSONObject = ["assistant_id": .string(assistantID)]
        if let instructions { body["instructions"] = .string(instructions) }
        var meta = JSONObject(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })
        meta["toolworker_run"] = .string(String(runKey))
        if let jobID { meta["toolworker_job"] = .string(String(jobID)) }
        body["metadata"] = .object(meta)
        if let message {
            let messages: JSONValue = [["role": "user", "content": .string(message)]]
            if threadID == nil {
                body["thread"] = ["messages": messages]
            } else {
                body["additional_messages"] = messages
            }
        }
        return body
    }
}

/// How a driven run ended.
public struct RunOutcome: Sendable, Equatable {
    public var runKey: Int64
    public var runID: String?
    public var threadID: String?
    /// The run's final status (`completed`, `failed`, `cancelled`, `expired`, `incomplete`), or `error` when
    /// ToolWorker could not start or follow it.
    public var status: String
    /// Why, when it did not complete: the run's `last_error`/`incomplete_details`, or ToolWorker's own error.
    public var detail: String?
    public var rounds: Int
    /// The text of the run's last assistant message, if any.
    public var finalText: String?
    /// `last_error.code` of the run, or ToolWorker's own code for an `error` outcome.
    public var errorCode: String? = nil

    /// The status of a run left open by a graceful shutdown (resumed at the next start).
    public static let suspended = "suspended"
}

/// How long one round took, for the dispatch-overhead measurement: from the `requires_action` event to the
/// submit request, and how much of that the handlers themselves took.
public struct RoundTiming: Sendable {
    public var requiresActionAt: ContinuousClock.Instant
    public var submitAt: ContinuousClock.Instant
    /// The longest handler of the round (they run in parallel).
    public var longestHandler: Duration
    public var calls: Int

    /// Time spent by ToolWorker itself: receiving, storing, dispatching, waiting on the store, not the handlers.
    public var overhead: Duration { submitAt - requiresActionAt - longestHandler }
}
