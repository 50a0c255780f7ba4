import RunLoopCore

/// A tool call the fake assistant asks for.
public struct ScriptedToolCall: Sendable, Equatable {
    public var name: String
    /// Sent verbatim as `function.arguments` (it may be invalid JSON on purpose), or a custom call's `input`.
    public var arguments: String
    /// Responses: a `custom_tool_call` (free-form `input`) rather than a `function_call`.
    public var custom = false
    /// Responses: a `shell_call` (or, with `localShell`, a `local_shell_call`) whose `action` is this JSON object.
    public var shellAction: JSONValue?
    public var localShell = false
    /// Responses: an `apply_patch_call` whose `operation` is ``shellAction``.
    public var patch = false

    public init(_ name: String, _ arguments: String, custom: Bool = false) {
        self.name = name
        self.arguments = arguments
        self.custom = custom
    }

    /// A `shell_call` with `action` (`{"commands": […], "timeout_ms": …}`), or a `local_shell_call`
    /// (`{"type": "exec", "command": […]}`).
    /// An `apply_patch_call` with `operation` (`{"type": "update_file", "path": …, "diff": …}`).
    public static func applyPatch(_ operation: JSONValue) -> ScriptedToolCall {
        var call = ScriptedToolCall("apply_patch", "")
        call.shellAction = operation
        call.patch = true
        return call
    }

    public static func shell(_ action: JSONValue, local: Bool = false) -> ScriptedToolCall {
        var call = ScriptedToolCall(local ? "local_shell" : "shell", "")
        call.shellAction = action
        call.localShell = local
        return call
    }
}

/// Which request a fault applies to.
public enum RequestKind: String, Sendable, Equatable {
    case create, submit, retrieve, cancel, listSteps, listMessages, listRuns, assistant
}

/// A fault the fake server injects on the `occurrence`-th request of a kind (1-based, counted per server).
public enum Fault: Sendable, Equatable {
    /// Answer with an HTTP error (and `Retry-After` when given) instead of serving the request.
    case httpError(status: Int, on: RequestKind, occurrence: Int = 1, retryAfter: String? = nil)
    /// Close the connection after `afterFrames` frames of that stream (the run goes on server-side).
    case dropStream(on: RequestKind, occurrence: Int = 1, afterFrames: Int)
    /// Send a frame whose data is not JSON after `afterFrames` frames.
    case malformedFrame(on: RequestKind, occurrence: Int = 1, afterFrames: Int)
    /// Stop sending for `seconds` after `afterFrames` frames, then close.
    case stall(on: RequestKind, occurrence: Int = 1, afterFrames: Int, seconds: Double)
    /// Send an `event: error` frame after `afterFrames` frames and end the stream there.
    case errorEvent(on: RequestKind, occurrence: Int = 1, afterFrames: Int)
    /// Serve the request (the run is created, the outputs are taken), then answer with an HTTP error anyway: the
    /// "it happened but you were told it failed" case.
    case httpErrorAfterActing(status: Int, on: RequestKind, occurrence: Int = 1)
    /// Answer 400 with the client's `Authorization` header value in the error message (a hostile server).
    case echoKey(on: RequestKind, occurrence: Int = 1)
    /// Answer 200 with an HTML page instead of the event stream (a captive portal, a misrouted proxy).
    case htmlPage(on: RequestKind, occurrence: Int = 1)
    /// After `afterFrames` frames, send a comment byte every 100 ms and nothing else, forever (slowloris).
    case trickle(on: RequestKind, occurrence: Int = 1, afterFrames: Int)

    var kind: RequestKind {
        switch self {
        case .httpError(_, let on, _, _), .dropStream(let on, _, _), .malformedFrame(let on, _, _), .stall(let on, _, _, _),
            .errorEvent(let on, _, _), .httpErrorAfterActing(_, let on, _), .echoKey(let on, _), .htmlPage(let on, _),
            .trickle(let on, _, _):
            return on
        }
    }

    var occurrence: Int {
        switch self {
        case .httpError(_, _, let n, _), .dropStream(_, let n, _), .malformedFrame(_, let n, _), .stall(_, let n, _, _),
            .errorEvent(_, let n, _), .httpErrorAfterActing(_, _, let n), .echoKey(_, let n), .htmlPage(_, let n),
            .trickle(_, let n, _):
            return n
        }
    }
}

/// Random faults for chaos tests, drawn from a seeded generator (the same seed gives the same faults for the
/// same order of requests). Each probability is per request of the kinds it names.
public struct ChaosFaults: Sendable, Equatable {
    public var seed: UInt64
    /// HTTP 500 on a create or submit, half of them after the request took effect.
    public var serverErrorRate: Double
    /// HTTP 429 with `Retry-After: 0` on any request.
    public var rateLimitRate: Double
    /// A stream (create, submit) dropped after a random number of frames.
    public var dropRate: Double

    public init(seed: UInt64, serverErrorRate: Double = 0.1, rateLimitRate: Double = 0.05, dropRate: Double = 0.15) {
        self.seed = seed
        self.serverErrorRate = serverErrorRate
        self.rateLimitRate = rateLimitRate
        self.dropRate = dropRate
    }
}

/// SplitMix64: small, seedable, good enough to draw faults.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How a run of a scenario ends once every round of tool calls is answered.
public enum ScenarioEnding: Sendable, Equatable {
    case completed
    case failed(code: String, message: String)
    case incomplete(reason: String)
    /// The server expires the run itself (a `thread.run.expired` event) instead of answering.
    case expired
    /// The run stays `in_progress` (the stream ends without a terminal event) until `expires_at` passes, or,
    /// with `completesAfterPolls`, until it has been retrieved that many times (then it is `completed`).
    case hangs(completesAfterPolls: Int? = nil)
}

/// How a Responses server that is not OpenAI's departs from the API: what a LiteLLM proxy in front of a chat server
/// (its Responses-to-Chat-Completions bridge) was seen doing.
public struct ResponsesQuirks: Sendable, Equatable {
    /// Numbers only the lifecycle events (0, 1, 2…), numbers item events with a count of their own from 0 again (a
    /// number lower than one already sent), and sends deltas with no number at all.
    public var sparseNumbering = false
    /// Ends every stream with `data: [DONE]` (no `event:` line).
    public var doneMarker = false
    /// Answers retrieve, resume and cancel with 500 "not supported"; accepts `background` and ignores it.
    public var noRetrieve = false
    /// Cuts every function call's arguments in half (the backend stream was cut), yet reports the response
    /// `completed`.
    public var truncatedArguments = false
    /// Never stops asking: once the scripted rounds are used up, the last one is asked for again and again.
    public var endlessRounds = false
    /// Keeps no state (Ollama, OpenRouter, Groq, llama.cpp): refuses `previous_response_id` and `background`, cannot
    /// retrieve, and wants every request to carry the whole conversation (each earlier call item and its output).
    public var stateless = false

    public init(
        sparseNumbering: Bool = false, doneMarker: Bool = false, noRetrieve: Bool = false, truncatedArguments: Bool = false,
        endlessRounds: Bool = false, stateless: Bool = false
    ) {
        self.stateless = stateless
        self.sparseNumbering = sparseNumbering
        self.doneMarker = doneMarker
        self.noRetrieve = noRetrieve
        self.truncatedArguments = truncatedArguments
        self.endlessRounds = endlessRounds
    }

    /// All that a LiteLLM bridge showed at once.
    public static let liteLLMBridge = ResponsesQuirks(sparseNumbering: true, doneMarker: true, noRetrieve: true)
}

/// What the fake assistant does for runs of one assistant id.
public struct Scenario: Sendable {
    /// Tool calls per `requires_action` round; empty for a plain text answer.
    public var rounds: [[ScriptedToolCall]]
    /// The final answer; `nil` makes it list the tool outputs it received ("name: output" lines).
    public var finalText: String?
    public var ending: ScenarioEnding
    public var faults: [Fault]
    /// Seconds from creation to `expires_at` (the API's is 600); infinite sends `expires_at: null`.
    public var expiresAfter: Double
    /// How many deltas each tool call's arguments and the answer's text are split into.
    public var deltaPieces: Int
    /// Pause between frames, to exercise a slow producer.
    public var frameDelay: Duration
    /// Responses only: how this server departs from the API.
    public var quirks = ResponsesQuirks()

    public init(
        rounds: [[ScriptedToolCall]] = [], finalText: String? = nil, ending: ScenarioEnding = .completed,
        faults: [Fault] = [], expiresAfter: Double = 600, deltaPieces: Int = 3, frameDelay: Duration = .zero,
        quirks: ResponsesQuirks = ResponsesQuirks()
    ) {
        self.quirks = quirks
        self.rounds = rounds
        self.finalText = finalText
        self.ending = ending
        self.faults = faults
        self.expiresAfter = expiresAfter
        self.deltaPieces = deltaPieces
        self.frameDelay = frameDelay
    }

    /// The scenarios every fake server knows, by assistant id (the demo and the docs use these).
    public static let builtIn: [String: Scenario] = [
        "asst_text": Scenario(finalText: "Hello from the fake assistant."),
        "asst_weather": Scenario(rounds: [[ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)]]),
        "asst_parallel": Scenario(rounds: [[
            ScriptedToolCall("get_weather", #"{"city":"Paris"}"#),
            ScriptedToolCall("get_weather", #"{"city":"Tokyo"}"#),
        ]]),
        "asst_two_rounds": Scenario(rounds: [
            [ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)],
            [ScriptedToolCall("get_weather", #"{"city":"Oslo"}"#)],
        ]),
        "asst_failed": Scenario(ending: .failed(code: "server_error", message: "Sorry, something went wrong.")),
        "asst_expired": Scenario(ending: .expired),
        // Long answers for scripts/bench.sh: 2,000, 20,000 and 100,000 message deltas of 5 characters each.
        // A stream that lasts ~4 s (200 deltas, 20 ms apart): many of them are open at once.
        "asst_slow_stream": Scenario(finalText: String(repeating: "word ", count: 200), deltaPieces: 200, frameDelay: .milliseconds(20)),
        "asst_stream_2k": Scenario(finalText: String(repeating: "word ", count: 2_000), deltaPieces: 2_000),
        "asst_stream_20k": Scenario(finalText: String(repeating: "word ", count: 20_000), deltaPieces: 20_000),
        "asst_stream_100k": Scenario(finalText: String(repeating: "word ", count: 100_000), deltaPieces: 100_000),
    ]
}

/// A rate limit the fake server applies to model requests (see ``FakeAssistantsServer/limitRate(_:)``).
public struct RateLimitMode: Sendable {
    public var requestsPerWindow: Int
    public var window: Duration
    /// `Retry-After` on a 429 (`nil`: none; the client then goes by `x-ratelimit-reset-requests`).
    public var retryAfter: String?
    public var quotaExhausted: Bool
    /// Whether answers carry `x-ratelimit-*` (without them a client learns of the limit only from a 429).
    public var sendsHeaders: Bool
    /// The window ends with its first 429, not with time: the request after a refusal goes through, however slow
    /// the client (a test that must see exactly one refusal on a loaded machine).
    public var resetsAfterRefusal: Bool

    public init(
        requestsPerWindow: Int = 1_000, window: Duration = .seconds(60), retryAfter: String? = nil, quotaExhausted: Bool = false,
        sendsHeaders: Bool = true, resetsAfterRefusal: Bool = false
    ) {
        self.resetsAfterRefusal = resetsAfterRefusal
        self.requestsPerWindow = requestsPerWindow
        self.window = window
        self.retryAfter = retryAfter
        self.quotaExhausted = quotaExhausted
        self.sendsHeaders = sendsHeaders
    }
}
