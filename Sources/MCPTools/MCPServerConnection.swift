import Foundation
import HTTPTransport
import Logging
import MCP
import Synchronization
import ToolRunner

/// One MCP server as the daemon holds it: connected on first use, reconnected (a stdio server restarted) after it
/// died or a call timed out, shared by every call of its tools.
public actor MCPServerConnection {
    public let configuration: MCPServerConfig
    let sandbox: Sandbox?
    let http: HTTPClient?
    let baseEnvironment: [String: String]
    let logger: Logger
    private var session: Session?
    /// The live output of each call waiting for progress, by its progress token.
    private let progress = ProgressSinks()
    private var connecting: Task<Session, any Error>?
    private var generation = 0

    /// A live connection: the SDK client and, for stdio, the process behind it.
    struct Session: Sendable {
        let client: Client
        let process: ServerProcess?
        let generation: Int
        /// The Streamable HTTP transport (its `Mcp-Session-Id`), for a server reached over HTTP.
        var http: StreamableHTTPTransport? = nil
    }

    /// Why a call got no answer from the server.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - http: the client for Streamable HTTP servers (the daemon's own libcurl client).
    ///   - baseEnvironment: what every process the daemon starts gets (never the daemon's own environment).
    public init(
        _ configuration: MCPServerConfig, sandboxHost: SandboxHost?, http: HTTPClient?, baseEnvironment: [String: String], logger: Logger
    ) {
        self.configuration = configuration
        self.sandbox = Sandbox(limits: configuration.limits, host: sandboxHost)
        self.http = http
        self.baseEnvironment = baseEnvironment
        self.logger = logger
    }

    /// Every tool the server lists (all pages).
    public func listTools() async throws -> [Tool] {
        let session = try await connected()
        var tools: [Tool] = []
        var cursor: String?
        repeat {
            let page = try await session.client.listTools(cursor: cursor)
            tools += page.tools
            cursor = page.nextCursor
        } while cursor != nil && tools.count < 10_000
        return tools
    }

    /// What one call of a tool came to.
    public enum CallResult: Sendable {
        case answered(content: [Tool.Content], isError: Bool)
        case timedOut
        case failed(String)
    }

    /// Calls `tool` with `arguments` within `timeout`. A time-out cancels the request (the server is told) and, for
    /// stdio, restarts the server before the next call; a server that dies during the call fails it. `traceparent`
    /// goes to the server as `params._meta.traceparent`; `notes` get the call's `mcp.*` and `jsonrpc.request.id`
    /// span attributes.
    public func call(
        _ tool: String, arguments: [String: Value]?, timeout: Duration, traceparent: String? = nil, notes: SpanNotes? = nil,
        live: (any LiveOutputSink)? = nil
    ) async throws(CancellationError) -> CallResult {
        let session: Session
        do { session = try await connected() } catch {
            if Task.isCancelled { throw CancellationError() }
            return .failed("the MCP server '\(configuration.name)' could not be reached: \(error)")
        }
        let context: RequestContext<CallTool.Result>
        // A call with a live output asks for progress notifications under a token of its own.
        let token = live.map { _ in "toolworker-\(UInt64.random(in: 1...UInt64.max))" }
        if let token, let live { progress.sinks.withLock { $0[token] = live } }
        defer { if let token { progress.sinks.withLock { $0[token] = nil } } }
        var meta: Metadata?
        if traceparent != nil || token != nil {
            meta = Metadata(
                progressToken: token.map { .string($0) }, additionalFields: traceparent.map { ["traceparent": .string($0)] } ?? [:])
        }
        do { context = try await session.client.callTool(name: tool, arguments: arguments, meta: meta) } catch {
            await reset(session.generation, reason: "a request could not be sent: \(error)")
            return .failed("the request could not be sent to the MCP server '\(configuration.name)': \(error)")
        }
        notes?.note("mcp.method.name", "tools/call")
        notes?.note("jsonrpc.request.id", context.requestID.description)
        notes?.note("network.transport", session.http == nil ? "pipe" : "tcp")
        if let http = session.http, let id = await http.currentSessionID { notes?.note("mcp.session.id", id) }
        let timedOut = Flag()
        let client = session.client
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            timedOut.set()
            try? await client.cancelRequest(context.requestID, reason: "ToolWorker: the call's time-out (\(timeout)) passed")
        }
        defer { timer.cancel() }
        do {
            let result = try await withTaskCancellationHandler {
                try await context.value
            } onCancel: {
                Task { try? await client.cancelRequest(context.requestID, reason: "ToolWorker is stopping") }
            }
            return .answered(content: result.content, isError: result.isError ?? false)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            if timedOut.isSet {
                // A server still busy with an abandoned call may never come back: start afresh next time.
                if session.process != nil { await reset(session.generation, reason: "a call timed out") }
                return .timedOut
            }
            if let status = session.process?.exitStatus {
                return .failed("the MCP server '\(configuration.name)' \(ServerProcess.describe(status)) during the call")
            }
            // Whatever broke (an HTTP session the server forgot, a transport error, a message the SDK refused), the
            // next call starts a new session rather than reuse this one.
            await reset(session.generation, reason: "a call failed: \(error)")
            return .failed("the MCP server '\(configuration.name)' failed the call: \(error)")
        }
    }

    /// Stops the server (stdio) or ends the session (HTTP).
    public func shutdown() async {
        connecting?.cancel()
        connecting = nil
        if let session { await close(session) }
        session = nil
    }

    /// The live session, connecting (starting the server) when there is none.
    func connected() async throws -> Session {
        if let session { return session }
        if let connecting { return try await connecting.value }
        generation += 1
        let task = Task { [generation] in try await self.open(generation) }
        connecting = task
        defer { connecting = nil }
        let opened = try await task.value
        session = opened
        return opened
    }

    private func open(_ generation: Int) async throws -> Session {
        let client = Client(name: "toolworker", version: "1")
        // Progress the server reports for a call goes to that call's live output (the token is the call's).
        let progress = self.progress
        _ = await client.onNotification(ProgressNotification.self) { message in
            guard case .string(let token) = message.params.progressToken, let sink = progress.sinks.withLock({ $0[token] }) else { return }
            var report: [String: Value] = ["progress": .double(message.params.progress)]
            if let total = message.params.total { report["total"] = .double(total) }
            if let text = message.params.message { report["message"] = .string(text) }
            guard let encoded = try? JSONEncoder().encode(report) else { return }
            sink.partial(.progress, [UInt8](encoded) + [0x0A])
        }
        switch configuration.transport {
        case .stdio(let command, let environment, let workingDirectory):
            var variables = baseEnvironment
            for (key, value) in environment { variables[key] = value }
            let process: ServerProcess
            do {
                process = try ServerProcess(
                    command: command, environment: variables, workingDirectory: workingDirectory, sandbox: sandbox, name: configuration.name,
                    logger: logger)
            } catch {
                throw Failure(description: "\(error)")
            }
            let transport = PipeTransport(input: process.stdout, output: process.stdin, logger: logger)
            let name = configuration.name
            let logger = self.logger
            process.onExit { [process] status in
                // One the daemon stopped (a normal stop, a reload, a reset) ending is expected; one that ended by
                // itself is worth a warning.
                if process.wasStopped {
                    logger.info("MCP server stopped", metadata: ["server": "\(name)", "status": "\(ServerProcess.describe(status))"])
                } else {
                    logger.warning("MCP server exited", metadata: ["server": "\(name)", "status": "\(ServerProcess.describe(status))"])
                }
                Task {
                    // Whatever waits on it (the handshake, a call) fails now, not at its deadline.
                    await client.disconnect()
                    await self.reset(generation, reason: ServerProcess.describe(status))
                }
            }
            do {
                try await handshake(client, over: transport)
            } catch {
                // Its exit status says something only if it ended by itself, before being stopped here.
                let exited = process.exitStatus.map { " (it \(ServerProcess.describe($0)))" } ?? ""
                await process.stop()
                throw Failure(description: "the MCP server '\(configuration.name)' did not complete the MCP handshake\(exited): \(error)")
            }
            return Session(client: client, process: process, generation: generation)
        case .http(let url, let headers):
            guard let http else { throw Failure(description: "no HTTP client for the MCP server '\(configuration.name)'") }
            let transport = StreamableHTTPTransport(url: url, headers: headers, http: http, logger: logger)
            do {
                try await handshake(client, over: transport)
            } catch {
                throw Failure(description: "the MCP server '\(configuration.name)' at \(url) did not complete the MCP handshake: \(error)")
            }
            return Session(client: client, process: nil, generation: generation, http: transport)
        }
    }

    /// Connects `client` over `transport` (the MCP handshake) within `startup_timeout`. Past it the client is
    /// disconnected, which fails the request the handshake waits on; on any failure the client is left disconnected.
    private func handshake(_ client: Client, over transport: any Transport) async throws {
        let deadline = configuration.startupTimeout
        let expired = Flag()
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    _ = try await client.connect(transport: transport)
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: deadline)
                    expired.set()
                    await client.disconnect()
                    return false
                }
                let finished = try await group.next() ?? false
                group.cancelAll()
                guard finished else { throw StartupExpired() }
            }
        } catch {
            await client.disconnect()
            // Past the deadline, whatever the handshake then failed with (the disconnect) is not the reason.
            if expired.isSet { throw Failure(description: "no answer within \(deadline) (startup_timeout)") }
            throw error
        }
    }

    private struct StartupExpired: Error {}

    /// A flag set once, shared with a timer task.
    private final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .sequentiallyConsistent) }
        var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    }

    /// Drops session `generation` (if it is still the live one): its pending requests fail, its process stops.
    func reset(_ generation: Int, reason: String) async {
        guard let session, session.generation == generation else { return }
        self.session = nil
        logger.notice("MCP server connection reset", metadata: ["server": "\(configuration.name)", "reason": "\(configuration.redacted(reason))"])
        await close(session)
    }

    private func close(_ session: Session) async {
        await session.client.disconnect()
        await session.process?.stop()
    }
}

/// The live output of each MCP call waiting for progress notifications, by progress token.
final class ProgressSinks: Sendable {
    let sinks = Mutex<[String: any LiveOutputSink]>([:])
}
