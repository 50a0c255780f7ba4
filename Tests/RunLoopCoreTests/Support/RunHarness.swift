import FakeAssistants
import Foundation
import Logging
import RunLoopCore

/// A fake server, a real SQLite file, real handler scripts and a driver wired to them.
final class RunHarness {
    let directory = TempDirectory()
    let server: FakeAssistantsServer
    let store: AuditStore
    var tools: [ToolHandlerConfig] = []
    /// The shell lent to the model, if any.
    var shell: ShellToolConfig?
    /// The workspace the model may patch, if any.
    var applyPatch: ApplyPatchConfig?
    /// What enforces `limits:` (`nil`: this host's, as detected).
    var sandboxHost: SandboxHost?
    /// Tools from other sources (MCP servers), after the configuration's own.
    var extraExecutors: [any ToolExecutor] = []
    var policy = SnapshotPolicy.lifecycle
    /// `prices:` for the usage ledger.
    var prices = PriceTable()
    /// Far beyond any stall a loaded machine causes; the tests about stalls set their own, short one.
    var idleTimeout: Duration = .seconds(60)

    /// - Parameter postgresURL: the journal's PostgreSQL database; `nil` for a SQLite file in the folder.
    init(scenarios: [String: Scenario] = [:], postgresURL: String? = nil, leaseOwner: LeaseOwner? = nil) throws {
        server = try FakeAssistantsServer(scenarios: scenarios)
        if let postgresURL {
            store = try AuditStore(connector: PostgresConnector(url: postgresURL), leaseOwner: leaseOwner)
        } else {
            store = try AuditStore(path: directory.path("audit.db"), leaseOwner: leaseOwner)
        }
    }

    deinit {
        store.close()
        server.stop()
    }

    /// Writes an executable script and registers it as tool `name`.
    @discardableResult
    func handler(_ name: String, _ script: String, configure: (inout ToolHandlerConfig) -> Void = { _ in }) throws -> String {
        let path = directory.path("\(name).sh")
        try ("#!/bin/sh\n" + script).writeScript(toFile: path)
        chmod(path, 0o755)
        var tool = ToolHandlerConfig(name: name, command: [path])
        tool.timeout = .seconds(10)
        configure(&tool)
        tools.append(tool)
        return path
    }

    func driver() -> RunDriver {
        var configuration = OpenAIClientConfiguration(baseURL: server.baseURL, apiKey: server.apiKey)
        configuration.retry = RetryPolicy(maxRetries: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
        configuration.http.idleTimeout = idleTimeout
        // One HTTP client (one loop thread, one connection cache) for both protocols, as serve has.
        let http = HTTPClient(configuration: configuration.http)
        var driver = RunDriver(
            backends: [
                AssistantsBackend(client: AssistantsClient(configuration: configuration, http: http)),
                ResponsesBackend(client: ResponsesClient(configuration: configuration, http: http), defaultModel: nil, defaultInstructions: nil),
            ], journal: store,
            dispatcher: ToolDispatcher(
                registry: ToolRegistry(
                    executors: tools.map { ShellToolExecutor($0, sandboxHost: sandboxHost) }
                        + (shell.map { [ShellCommandExecutor($0, sandboxHost: sandboxHost)] } ?? [])
                        + (applyPatch.map { [PatchExecutor($0)] } ?? []) + extraExecutors),
                maxConcurrentCalls: 8),
            policy: policy,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        driver.schedule.maxPollInterval = .milliseconds(200)
        driver.usageLedger = UsageLedger(prices: prices, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        return driver
    }

    func run(_ assistant: String, message: String = "hi", metadata: [String: String] = [:]) async throws -> RunOutcome {
        try await driver().run(RunRequest(assistantID: assistant, message: message, metadata: metadata))
    }

    /// A Responses loop: the fake server picks its scenario by model name.
    func respond(_ model: String, message: String = "hi", metadata: [String: String] = [:], instructions: String? = nil) async throws -> RunOutcome {
        try await driver().run(RunRequest(
            assistantID: "", message: message, instructions: instructions, metadata: metadata, protocolName: "responses", model: model))
    }

    /// The input items of every Responses request after the first (what the loop answered), in order.
    func submittedInputs() -> [JSONValue] {
        requests("POST", "/responses").compactMap(\.json).dropFirst().flatMap { $0["input"]?.arrayValue ?? [] }
    }

    /// Runs `request` with this harness's driver.
    func driverRun(_ request: RunRequest) async throws -> RunOutcome { try await driver().run(request) }

    /// Rows of a query on the store (through the reader connection).
    func rows(_ sql: String, _ parameters: [SQLValue] = []) async throws -> [SQLRow] {
        try await store.read { db in try db.query(sql, parameters) }
    }

    func requests(_ method: String, _ suffix: String) -> [ReceivedRequest] {
        server.requests.filter { $0.method == method && $0.path.hasSuffix(suffix) }
    }
}
