import FakeAssistants
import Foundation
import Logging
import RunLoopCore
import Synchronization

/// A Responses server on 127.0.0.1 whose every answer a test writes by hand: raw SSE frames (any numbering, any
/// index, `[DONE]`, a drop), JSON errors. For the hostile inputs the scenario server is too well-behaved to send.
final class ScriptedResponsesServer: Sendable {
    /// What to answer one request with.
    enum Reply: Sendable {
        /// An event stream of these frames (`data:` texts; the `type` member names them), then `end`.
        case events([String], end: StreamEnd = .close)
        case json(Int, String)
    }

    enum StreamEnd: Sendable {
        case close
        /// Closes the connection abruptly, without the chunked terminator.
        case drop
    }

    /// Which request: `create` (a POST without `previous_response_id`), `submit`, `retrieve`, `resume`, `cancel`.
    enum Kind: String, Sendable {
        case create, submit, retrieve, resume, cancel
    }

    typealias Responder = @Sendable (_ kind: Kind, _ occurrence: Int, _ request: ReceivedRequest) -> Reply

    /// Every request received, with its kind (shared with the connection threads).
    private final class RequestLog: Sendable {
        let entries = Mutex<[(Kind, ReceivedRequest)]>([])
    }

    private let received = RequestLog()
    private let http: Mutex<LoopbackHTTPServer?> = Mutex(nil)
    let port: Int

    init(_ responder: @escaping Responder) throws {
        let log = received
        let server = try LoopbackHTTPServer { request, writer in
            let kind: Kind
            if request.method == "POST" && request.path.hasSuffix("/cancel") {
                kind = .cancel
            } else if request.method == "POST" {
                kind = request.json?["previous_response_id"]?.stringValue == nil ? .create : .submit
            } else {
                kind = request.query["stream"] == "true" ? .resume : .retrieve
            }
            let occurrence = log.entries.withLock { list -> Int in
                list.append((kind, request))
                return list.filter { $0.0 == kind }.count
            }
            switch responder(kind, occurrence, request) {
            case .json(let status, let body):
                writer.respond(status: status, body: Array(body.utf8))
            case .events(let frames, let end):
                writer.startEventStream()
                for frame in frames {
                    let name = (try? JSONValue(parsing: frame))?["type"]?.stringValue
                    writer.sendChunk(Array(((name.map { "event: \($0)\n" } ?? "") + "data: \(frame)\n\n").utf8))
                }
                if case .drop = end { writer.dropConnection() } else { writer.endStream() }
            }
        }
        port = server.port
        http.withLock { $0 = server }
    }

    deinit { http.withLock { $0?.stop() } }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// The requests received of `kind`, in order.
    func requests(_ kind: Kind) -> [ReceivedRequest] { received.entries.withLock { $0.filter { $0.0 == kind }.map(\.1) } }

    // MARK: Frames

    static func response(_ id: String, _ status: String, output: String = "[]", background: Bool = false) -> String {
        #"{"id":"\#(id)","object":"response","status":"\#(status)","background":\#(background),"model":"m","output":\#(output),"error":null,"incomplete_details":null}"#
    }

    static func lifecycle(_ type: String, _ seq: Int?, _ response: String) -> String {
        #"{"type":"\#(type)",\#(seq.map { "\"sequence_number\":\($0)," } ?? "")"response":\#(response)}"#
    }

    static func call(_ callID: String?, name: String = "echo", arguments: String = "{}") -> String {
        let escaped = JSONValue.string(arguments).serialized()
        return #"{"type":"function_call","id":"fc_1",\#(callID.map { "\"call_id\":\"\($0)\"," } ?? "")"name":"\#(name)","arguments":\#(escaped),"status":"completed"}"#
    }

    /// A whole response that asks for `calls` (function_call items), numbered from 0.
    static func askingFor(_ id: String, calls: [String]) -> [String] {
        var frames = [lifecycle("response.created", 0, response(id, "in_progress"))]
        for (index, call) in calls.enumerated() {
            frames.append(#"{"type":"response.output_item.done","sequence_number":\#(index + 1),"output_index":\#(index),"item":\#(call)}"#)
        }
        frames.append(lifecycle("response.completed", calls.count + 1, response(id, "completed", output: "[" + calls.joined(separator: ",") + "]")))
        return frames
    }

    /// A whole text answer, numbered from 0.
    static func answer(_ id: String, text: String = "done") -> [String] {
        let message = #"{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"\#(text)","annotations":[]}]}"#
        return [
            lifecycle("response.created", 0, response(id, "in_progress")),
            #"{"type":"response.output_item.done","sequence_number":1,"output_index":0,"item":\#(message)}"#,
            lifecycle("response.completed", 2, response(id, "completed", output: "[\(message)]")),
        ]
    }
}

/// A driver and a real SQLite journal against a ``ScriptedResponsesServer``.
final class ScriptedHarness {
    let directory = TempDirectory()
    let server: ScriptedResponsesServer
    let store: AuditStore
    var tools: [ToolHandlerConfig] = []
    var maxRetries = 2

    init(_ responder: @escaping ScriptedResponsesServer.Responder) throws {
        server = try ScriptedResponsesServer(responder)
        store = try AuditStore(path: directory.path("audit.db"))
    }

    deinit { store.close() }

    /// Registers `echo`, a handler that appends one line per call to a file (so a test can count the runs).
    @discardableResult
    func echoTool() throws -> String {
        let log = directory.path("calls.log")
        let path = directory.path("echo.sh")
        try "#!/bin/sh\nread args; echo \"$args\" >> '\(log)'; printf 'ok %s' \"$args\"\n".writeScript(toFile: path)
        chmod(path, 0o755)
        var tool = ToolHandlerConfig(name: "echo", command: [path])
        tool.timeout = .seconds(20)
        tools.append(tool)
        return log
    }

    func driver(configure: (inout RunDriver) -> Void = { _ in }) -> RunDriver {
        var configuration = OpenAIClientConfiguration(baseURL: server.baseURL, apiKey: "sk-test-scripted-key")
        configuration.retry = RetryPolicy(maxRetries: maxRetries, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
        var driver = RunDriver(
            backends: [ResponsesBackend(client: ResponsesClient(configuration: configuration), defaultModel: "m", defaultInstructions: nil)],
            journal: store, dispatcher: ToolDispatcher(registry: ToolRegistry(tools), maxConcurrentCalls: 8), policy: .lifecycle,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        driver.schedule.maxPollInterval = .milliseconds(50)
        configure(&driver)
        return driver
    }

    func run(maxRounds: Int? = nil, configure: (inout RunDriver) -> Void = { _ in }) async throws -> RunOutcome {
        try await driver(configure: configure).run(
            RunRequest(assistantID: "", message: "hi", protocolName: "responses", model: "m", maxRounds: maxRounds))
    }

    func rows(_ sql: String) async throws -> [SQLRow] { try await store.read { try $0.query(sql, []) } }
}
