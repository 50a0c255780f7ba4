import WireFormat
import WorkModel

/// What the journal holds for a call from an earlier attempt at its round.
public struct PreviousAttempt: Sendable, Equatable {
    public var state: ToolCallState
    /// The stored output, if the call was answered (submitted or not).
    public var output: String?

    public init(state: ToolCallState, output: String?) {
        self.state = state
        self.output = output
    }
}

/// How one call of a round is answered.
public enum RoundPlan: Sendable, Equatable {
    /// Submit the stored output again; never recompute it.
    case reuse(output: String)
    /// Run the handler (a new call, or one whose `on_restart` is `rerun`).
    case run
    /// The handler was running when the process died and must not run twice: answer "interrupted".
    case answerInterrupted

    /// Whether the handler runs (its call is marked `running` before it starts).
    public var runsHandler: Bool { self == .run }
}

extension ToolCallOutcome {
    /// A failed call: the JSON error output the model is given, `{"error": {"type", "message", …}}`, and what the
    /// journal records. Every error output ToolWorker submits is built here.
    public static func failure(
        _ state: ToolCallState, _ kind: ErrorKind, _ message: String, exitCode: Int? = nil, signal: Int? = nil,
        stderr: String? = nil, startedAt: Int64, finishedAt: Int64
    ) -> ToolCallOutcome {
        var error: JSONObject = ["type": .string(kind.rawValue), "message": .string(message)]
        if let exitCode { error["exit_code"] = .int(Int64(exitCode)) }
        if let stderr, !stderr.isEmpty { error["stderr"] = .string(String(stderr.suffix(1000))) }
        return ToolCallOutcome(
            state: state, error: kind, output: JSONValue.object(["error": .object(error)]).serialized(),
            exitCode: exitCode, signal: signal, stderrTail: stderr, startedAt: startedAt, finishedAt: finishedAt)
    }

    /// The answer for a call interrupted by a restart whose `on_restart` is `fail`.
    public static func interrupted(at time: Int64 = unixMilliseconds()) -> ToolCallOutcome {
        failure(
            .interrupted, .interrupted, "The tool call was interrupted by a restart of the worker and is not run twice.",
            startedAt: time, finishedAt: time)
    }
}
