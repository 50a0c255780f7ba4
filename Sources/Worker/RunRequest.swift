import Journal
import WireFormat
import WorkModel

/// What to start: an assistant, and either an existing thread or a first message for a new one.
public struct RunRequest: Sendable, Equatable {
    public var assistantID: String
    /// Run on this thread; `nil` starts on a new one.
    public var threadID: String?
    /// A user message added before the run starts.
    public var message: String?
    public var instructions: String?
    /// Sent as the run's `metadata` (ToolWorker adds `toolworker_run`, and `toolworker_job` for queued jobs).
    public var metadata: [String: String]
    public var jobID: Int64?
    /// The protocol that drives it: the backend with this ``ToolLoopBackend/protocolName``.
    public var protocolName: String
    /// The model (Responses; Assistants runs use the assistant's unless given).
    public var model: String?
    /// Tool rounds this loop may take (`--max-rounds`); `nil` takes the driver's ``RunDriver/maxRounds``.
    public var maxRounds: Int?
    /// Where the conversation lives (`--state`); `nil` takes the backend's (`api.state`).
    public var conversationState: ConversationState?
    /// Request options of this loop (`--request-option`), over the configuration's `request_options`.
    public var requestOptions: JSONObject = [:]
    /// What the loop (or its job, over all its attempts) may spend (`--budget`).
    public var budget: Budget?
    /// The provider it is sent to (`--provider`); `nil` is the driver's first (default) provider.
    public var provider: String?
    /// The model as the caller named it, when that was one of the provider's aliases (a fallback provider resolves it
    /// again).
    public var modelAlias: String?

    public init(
        assistantID: String, threadID: String? = nil, message: String? = nil, instructions: String? = nil,
        metadata: [String: String] = [:], jobID: Int64? = nil, protocolName: String, model: String? = nil,
        maxRounds: Int? = nil, conversationState: ConversationState? = nil
    ) {
        self.maxRounds = maxRounds
        self.conversationState = conversationState
        self.protocolName = protocolName
        self.model = model
        self.assistantID = assistantID
        self.threadID = threadID
        self.message = message
        self.instructions = instructions
        self.metadata = metadata
        self.jobID = jobID
    }

    /// The request a stored run was started with (`runs.request`, its protocol and model).
    public init(record: RunRecord) {
        let summary = record.request
        self.init(
            assistantID: record.assistantID, threadID: record.threadID, message: summary?["message"]?.stringValue,
            instructions: summary?["instructions"]?.stringValue,
            metadata: RunRequest.metadataPairs(summary?["metadata"]).filter { !$0.key.hasPrefix("toolworker_") },
            jobID: record.jobID, protocolName: record.protocolName, model: record.model)
        apply(options: summary?.objectValue)
    }

    /// The loop's own options (`max_rounds`, `state`, `request_options`) as the journal keeps them, in a job's
    /// `options` and a run's `request` alike.
    var loopOptions: JSONObject {
        var options: JSONObject = [:]
        if let maxRounds { options["max_rounds"] = .int(Int64(maxRounds)) }
        if let conversationState { options["state"] = .string(conversationState.rawValue) }
        if !requestOptions.isEmpty { options["request_options"] = .object(requestOptions) }
        if let budget, !budget.isEmpty { options["budget"] = budget.json }
        if let provider { options["provider"] = .string(provider) }
        if let modelAlias { options["model_alias"] = .string(modelAlias) }
        return options
    }

    /// Takes the loop's options from what the journal kept (``loopOptions``).
    public mutating func apply(options: JSONObject?) {
        maxRounds = options?["max_rounds"]?.intValue.map(Int.init)
        conversationState = options?["state"]?.stringValue.flatMap(ConversationState.init(rawValue:))
        requestOptions = options?["request_options"]?.objectValue ?? [:]
        budget = Budget(json: options?["budget"])
        provider = options?["provider"]?.stringValue
        modelAlias = options?["model_alias"]?.stringValue
    }

    /// Per-job options as the journal keeps them (`jobs.options`), or `nil` when there are none.
    public var jobOptions: JSONValue? {
        let options = loopOptions
        return options.isEmpty ? nil : .object(options)
    }

    /// The caller's metadata as a JSON object, keys sorted (as a job stores it).
    public var metadataJSON: JSONObject {
        JSONObject(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })
    }

    /// Metadata stored as a JSON object (a job's), back as pairs; a value that is not a string keeps its JSON text.
    public static func metadataPairs(_ json: JSONValue?) -> [String: String] {
        var pairs: [String: String] = [:]
        for (key, value) in json?.objectValue ?? JSONObject() { pairs[key] = value.stringValue ?? value.serialized() }
        return pairs
    }

    /// The metadata sent with the loop: the caller's pairs, sorted, then ToolWorker's own keys.
    public func metadataObject(runKey: Int64) -> JSONObject {
        var meta = metadataJSON
        meta["toolworker_run"] = .string(String(runKey))
        if let jobID { meta["toolworker_job"] = .string(String(jobID)) }
        return meta
    }

    /// What the journal keeps of the request (`runs.request`).
    public var summary: JSONObject {
        var object: JSONObject = ["protocol": .string(protocolName)]
        if !assistantID.isEmpty { object["assistant_id"] = .string(assistantID) }
        if let model { object["model"] = .string(model) }
        if let threadID { object["thread_id"] = .string(threadID) }
        if let message { object["message"] = .string(message) }
        if let instructions { object["instructions"] = .string(instructions) }
        for (key, value) in loopOptions { object[key] = value }
        object["metadata"] = .object(metadataObject(runKey: 0))
        return object
    }
}

/// How a driven loop ended.
public struct RunOutcome: Sendable, Equatable {
    public var runKey: Int64
    public var runID: String?
    public var threadID: String?
    public var status: OutcomeStatus
    /// Why, when it did not complete: the loop's `last_error`/`incomplete_details`, or ToolWorker's own error.
    public var detail: String?
    public var rounds: Int
    /// The text of the loop's last assistant message, if any.
    public var finalText: String?
    /// The server's error code, or ToolWorker's own code for an `error` outcome.
    public var errorCode: String? = nil
    /// For a start not sent for its rate limit (`rate_limited`): how long it would have waited.
    public var rateLimitWait: Duration? = nil
    /// The provider the loop ended on.
    public var provider: String? = nil
    /// Whether it moved there from its own provider (`fallback:`) before it started.
    public var movedProvider = false
}

/// How long one round took, for the dispatch-overhead measurement: from the request for outputs to the submit,
/// and how much of that the handlers themselves took.
public struct RoundTiming: Sendable {
    public var requiresActionAt: ContinuousClock.Instant
    public var submitAt: ContinuousClock.Instant
    /// The longest handler of the round (they run in parallel).
    public var longestHandler: Duration
    public var calls: Int

    /// Time spent by ToolWorker itself: receiving, storing, dispatching, waiting on the store, not the handlers.
    public var overhead: Duration { submitAt - requiresActionAt - longestHandler }
}
