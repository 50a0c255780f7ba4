import Foundation
import Logging
import ToolRunner
import WireFormat
import WorkModel

/// `approval_notify: [PROGRAM, ARG…]`: a program told of each new request for approval, with the request as JSON
/// on stdin (`{"run_id", "thread_id", "expires_at", "calls": [{"call_id", "tool", "arguments"}]}`), to page someone
/// or post to a chat. It runs beside the wait, never delays it and decides nothing; a failure or a time-out (10 s) is
/// logged. It gets what a handler gets (never the daemon's environment). A request found again after a restart or a
/// takeover is not announced twice.
public struct ApprovalNotifier: Sendable {
    public var command: [String]
    public var timeout: Duration = .seconds(10)
    let environment: [String: String]

    public init(command: [String], inheritedEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        self.command = command
        environment = ShellToolExecutor.baseEnvironment(inheriting: inheritedEnvironment)
    }

    /// The JSON the program reads on stdin.
    static func payload(runID: String?, threadID: String?, calls: [ToolCall], expiresAt: Int64?) -> String {
        let requested: [JSONValue] = calls.map { call in
            ["call_id": .string(call.id), "tool": .string(call.name), "arguments": .string(call.arguments)]
        }
        var object: JSONObject = ["run_id": runID.map(JSONValue.string) ?? .null, "thread_id": threadID.map(JSONValue.string) ?? .null]
        object["expires_at"] = expiresAt.map { .int($0) } ?? .null
        object["calls"] = .array(requested)
        return JSONValue.object(object).serialized()
    }

    /// Starts the program in the background for these newly requested calls.
    func notify(runID: String?, threadID: String?, calls: [ToolCall], expiresAt: Int64?, logger: Logger) {
        let input = Self.payload(runID: runID, threadID: threadID, calls: calls, expiresAt: expiresAt)
        let command = command
        let environment = environment
        let timeout = timeout
        Task.detached {
            do {
                let result = try await HandlerRunner().run(
                    command: command, stdin: input, environment: environment, workingDirectory: nil, timeout: timeout, maxOutputBytes: 4096)
                if result.termination != .exited(0) {
                    logger.warning("approval_notify did not succeed", metadata: [
                        "command": "\(command[0])", "termination": "\(result.termination)",
                        "stderr": "\(ControlCharacters.escaped(String(decoding: result.stderrTail.suffix(500), as: UTF8.self)))",
                    ])
                }
            } catch {
                logger.warning("approval_notify could not be started", metadata: ["command": "\(command[0])", "error": "\(error)"])
            }
        }
    }
}
