import Foundation
import Logging
import RunLoopCore
import Synchronization

/// The console of `serve`: pages read through a read-only connection of their own (one query at a time), decisions
/// journaled through the daemon's store exactly as `toolworker approve`/`deny` journal them.
func makeConsole(_ config: ToolWorkerConfig, tokens: [(identity: String, token: String)], store: AuditStore, logger: Logger) throws -> ConsoleServer {
    let history = ConsoleHistory(try openHistory(config))
    var settings = ConsoleSettings(tokens: tokens, prefix: config.console?.pathPrefix ?? "")
    for tool in config.tools {
        var parts = ["timeout \(tool.policy.timeout)", "output \(tool.maxOutputBytes) B"]
        if let memory = tool.limits.memoryBytes { parts.append("memory \(memory / (1024 * 1024)) MiB") }
        if let cpu = tool.limits.cpuPercent { parts.append("cpu \(cpu)%") }
        if let tasks = tool.limits.tasks { parts.append("tasks \(tasks)") }
        if !tool.limits.network { parts.append("no network") }
        settings.toolLimits[tool.name] = parts.joined(separator: ", ")
    }
    let journal = ConsoleJournal(
        read: { body in try history.read(body) },
        pending: { try await store.pendingApprovals() },
        decide: { runKey, callID, decision, who, reason in
            try await store.decideApproval(runKey: runKey, callID: callID, decision: decision, by: who, reason: reason)
        })
    return ConsoleServer(settings: settings, journal: journal, logger: logger)
}

/// The daemon's HTTP listener, when `metrics.listen` or `console:` asks for one: `/metrics`, and the console.
func startListener(
    _ config: ToolWorkerConfig, metrics: MetricsExport, consoleTokens: [(identity: String, token: String)]?, store: AuditStore, logger: Logger
) throws -> MetricsListener? {
    guard let address = config.listenAddress else { return nil }
    var console: ConsoleServer?
    var routes: (@Sendable (HTTPServerRequest) -> HTTPServerResponse?)?
    if let consoleTokens {
        let server = try makeConsole(config, tokens: consoleTokens, store: store, logger: logger)
        console = server
        routes = { @Sendable request in server.handle(request) }
    }
    let listener: MetricsListener
    do {
        listener = try MetricsListener(host: address.host, port: address.port, body: { metrics.text() }, routes: routes)
    } catch {
        throw CommandFailure(message: "\(config.file): \(error)", code: ExitStatus.config)
    }
    logger.info(console == nil ? "serving metrics" : "serving metrics and the console", metadata: [
        "listen": "\(address.host):\(listener.port)", "console": "\(config.console.map { $0.pathPrefix + "/" } ?? "off")",
    ])
    return listener
}

/// A read-only history connection the console's threads share, one query at a time.
final class ConsoleHistory: Sendable {
    private let history: Mutex<JournalHistory>

    init(_ connection: sending any JournalConnection) {
        history = Mutex(JournalHistory(connection))
    }

    func read(_ body: (JournalHistory) throws -> Void) throws {
        try history.withLock { try body($0) }
    }
}
