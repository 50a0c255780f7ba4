import FakeAssistants
import Foundation
import Logging
import RunLoopCore
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif
import Synchronization

/// Dispatch overhead: from `requires_action` received to the submit sent, minus the handler's own time, over many
/// rounds with a `/bin/true` handler; next to the cost of spawning `/bin/true` bare.
enum DispatchBenchmark {
    final class Timings: Sendable {
        let values = Mutex<[Duration]>([])
    }

    static func percentile(_ values: [Duration], _ p: Double) -> Duration {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }

    static func ms(_ d: Duration) -> Double { d.seconds * 1000 }

    /// Both protocols' backends against the fake server, as `serve` has them.
    static func backends(_ server: FakeAssistantsServer, tools: [ToolHandlerConfig]) -> [any ToolLoopBackend] {
        let configuration = OpenAIClientConfiguration(baseURL: server.baseURL, apiKey: server.apiKey)
        return [
            AssistantsBackend(client: AssistantsClient(configuration: configuration)),
            ResponsesBackend(client: ResponsesClient(configuration: configuration), defaultModel: nil, defaultInstructions: nil),
        ]
    }

    /// The journals a round is measured on: SQLite as the daemon has it (one `fsync` per durable commit), SQLite
    /// without `fsync` (the figure a weaker durability setting would give), and PostgreSQL when one is configured.
    enum Journal {
        case sqlite(SQLiteDurability)
        case postgres(String)

        var label: String {
            switch self {
            case .sqlite(.full): "SQLite"
            case .sqlite(.normal): "SQLite, synchronous=NORMAL"
            case .postgres: "PostgreSQL"
            }
        }
    }

    static func run(rounds: Int, protocolName: String) async throws {
        let bare = bareSpawn(rounds)
        print(String(format: "bare fork+exec of /bin/true (posix_spawn + waitpid), %d times: median %.2f ms, p99 %.2f ms",
                     bare.count, ms(percentile(bare, 0.5)), ms(percentile(bare, 0.99))))
        var journals: [Journal] = [.sqlite(.full), .sqlite(.normal)]
        if let url = StoreBenchmark.postgresURL { journals.append(.postgres(url)) }
        for journal in journals {
            let overheads = try await run(rounds: rounds, protocolName: protocolName, journal: journal)
            print(String(format: "dispatch overhead ratio (%@, %@): median %.2fx bare spawn median, p99 %.2fx bare spawn p99",
                         protocolName, journal.label, ms(percentile(overheads, 0.5)) / ms(percentile(bare, 0.5)),
                         ms(percentile(overheads, 0.99)) / ms(percentile(bare, 0.99))))
        }
    }

    /// `/bin/true` spawned and reaped bare, `count` times: posix_spawn + waitpid, no pipes.
    static func bareSpawn(_ count: Int) -> [Duration] {
        var bare: [Duration] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
            defer { argv.forEach { free($0) } }
            guard posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0 else { continue }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            bare.append(ContinuousClock.now - start)
        }
        return bare
    }

    /// The overhead of each round of one loop of `rounds` rounds on `journal`.
    static func run(rounds: Int, protocolName: String, journal: Journal) async throws -> [Duration] {
        signal(SIGPIPE, SIG_IGN)
        let directory = NSTemporaryDirectory() + "toolworker-dispatch-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try FakeAssistantsServer(scenarios: [
            "asst_rounds": Scenario(rounds: Array(repeating: [ScriptedToolCall("noop", "{}")], count: rounds), finalText: "done", expiresAfter: 36000, deltaPieces: 1)
        ])
        defer { server.stop() }
        let store: AuditStore
        switch journal {
        case .sqlite(let durability): store = try AuditStore(path: "\(directory)/audit.db", durability: durability)
        case .postgres(let url): store = try AuditStore(connector: PostgresConnector(url: url))
        }
        defer { store.close() }
        var tool = ToolHandlerConfig(name: "noop", command: ["/bin/true"])
        tool.timeout = .seconds(10)
        var driver = RunDriver(
            backends: backends(server, tools: [tool]),
            journal: store, dispatcher: ToolDispatcher(registry: ToolRegistry([tool]), maxConcurrentCalls: 4),
            policy: .lifecycle, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        // Every round of the scripted loop is measured: the default cap (max_rounds, 100) would end it early.
        driver.maxRounds = rounds + 1
        let overheads = Timings()
        let handlers = Timings()
        driver.onRound = { timing in
            overheads.values.withLock { $0.append(timing.overhead) }
            handlers.values.withLock { $0.append(timing.longestHandler) }
        }
        let outcome = try await driver.run(
            protocolName == ResponsesBackend.descriptor.name
                ? RunRequest(assistantID: "", message: "go", protocolName: protocolName, model: "asst_rounds")
                : RunRequest(assistantID: "asst_rounds", message: "go", protocolName: protocolName))
        precondition(outcome.status == .completed, "benchmark run ended \(outcome.status.rawValue): \(outcome.detail ?? "")")
        let o = overheads.values.withLock { $0 }
        let hd = handlers.values.withLock { $0 }
        print(String(format: "dispatch overhead (%@, journal on %@) over %d rounds: median %.2f ms, p99 %.2f ms (handler /bin/true via subprocess: median %.2f ms)",
                     protocolName, journal.label, o.count, ms(percentile(o, 0.5)), ms(percentile(o, 0.99)), ms(percentile(hd, 0.5))))
        return o
    }
}
