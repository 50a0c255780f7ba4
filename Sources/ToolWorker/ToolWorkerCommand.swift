import ArgumentParser
import Foundation
import Logging
import RunLoopCore

@main
struct ToolWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toolworker",
        abstract: "Drives Assistants API v2 runs and executes their tool calls with local handlers.",
        version: ToolWorkerVersion.string,
        subcommands: [
            ServeCommand.self, RunCommand.self, EnqueueCommand.self, RunsCommand.self, ShowCommand.self,
            EventsCommand.self, StatusCommand.self, CancelCommand.self, ToolsCommand.self, CheckConfigCommand.self,
            SyncToolsCommand.self,
            PruneCommand.self, MigrateCommand.self, CopyJournalCommand.self, MigrateThreadCommand.self, ApprovalsCommand.self,
            ApproveCommand.self, DenyCommand.self, UsageCommand.self, VerifyCommand.self, ReplayCommand.self, DemoCommand.self,
        ])

    /// The entry point: the library's, after masking the signals `serve` takes through Dispatch.
    ///
    /// `serve` takes SIGTERM, SIGINT and SIGHUP through Dispatch signal sources (swift-service-lifecycle), which on
    /// Linux read them from a signalfd: that only works if no thread can take the signal's default action first.
    /// So they are blocked here, before the first task starts other threads; every thread created later inherits
    /// the mask. `run` blocks them too, to stop its handlers' process groups before it exits (see `RunCommand`).
    /// Other commands keep the default behaviour (Ctrl-C stops them at once).
    static func main() async {
        if ["serve", "run"].contains(CommandLine.arguments.dropFirst().first) {
            var signals = sigset_t()
            sigemptyset(&signals)
            for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
            pthread_sigmask(SIG_BLOCK, &signals, nil)
        }
        await main(nil)
    }
}

/// `--config FILE`, shared by every command.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The configuration file.")
    var config = "/etc/toolworker/toolworker.yaml"

    func load() throws -> ToolWorkerConfig {
        // Every command loads the configuration first: check the system libraries here, once, with a clear error.
        do {
            try CurlLibrary.check()
            try AuditStore.checkLibraryVersion()
        } catch {
            throw CommandFailure(message: "\(error)", code: ExitStatus.unavailable)
        }
        do {
            return try ConfigLoader.load(file: config)
        } catch let error as ConfigError {
            throw CommandFailure(message: error.description, code: ExitStatus.config)
        }
    }

    /// The default provider's client settings (base URL and keys from the file, the key files or the environment).
    func clientConfiguration(_ config: ToolWorkerConfig) throws -> OpenAIClientConfiguration {
        try providerClients(config)[0].configuration
    }

    /// Every provider's client settings, the default first. Keys read from the environment are kept in memory and
    /// wiped from this process's environment at once (their bytes overwritten, so `/proc/PID/environ` no longer shows
    /// them to a handler, a shell call or an MCP server).
    func providerClients(_ config: ToolWorkerConfig) throws -> [ProviderClient] {
        do {
            let environment = EnvironmentSecrets.environment()
            let clients = try config.effectiveProviders.map {
                ProviderClient(provider: $0, configuration: try config.clientConfiguration(provider: $0, environment: environment))
            }
            for variable in config.keyVariables { EnvironmentSecrets.keepAndWipe(variable) }
            return clients
        } catch let error as ConfigError {
            throw CommandFailure(message: error.description, code: ExitStatus.config)
        }
    }
}

/// A provider and the client settings its requests go with.
struct ProviderClient {
    var provider: Provider
    var configuration: OpenAIClientConfiguration
}

/// Exit statuses (sysexits where one fits; see the README).
enum ExitStatus {
    static let completed: Int32 = 0
    static let failed: Int32 = 10
    static let incomplete: Int32 = 11
    static let expired: Int32 = 12
    static let cancelled: Int32 = 13
    static let error: Int32 = 14
    static let budgetExceeded: Int32 = 15
    static let usage: Int32 = 64
    /// A system library is missing, broken or too old (EX_UNAVAILABLE).
    static let unavailable: Int32 = 69
    static let dataError: Int32 = 65
    static let ioError: Int32 = 74
    /// `serve`: another daemon holds the database's lock (EX_TEMPFAIL).
    static let alreadyRunning: Int32 = 75
    static let config: Int32 = 78

    static func forOutcome(_ status: OutcomeStatus) -> Int32 {
        switch status {
        case .completed: return completed
        case .failed: return failed
        case .incomplete: return incomplete
        case .expired: return expired
        case .cancelled: return cancelled
        case .error, .suspended: return error
        case .budgetExceeded: return budgetExceeded
        }
    }
}

/// A message for stderr and an exit status.
struct CommandFailure: Error {
    let message: String
    let code: Int32
}

extension AsyncParsableCommand {
    /// Runs `body`, turning known failures into a clear message and exit status.
    func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("toolworker: \(failure.message)\n".utf8))
            throw ExitCode(failure.code)
        } catch let error as StoreCompatibilityError {
            FileHandle.standardError.write(Data("toolworker: \(error)\n".utf8))
            throw ExitCode(ExitStatus.dataError)
        } catch let error as SQLiteError {
            FileHandle.standardError.write(Data("toolworker: database: \(error)\n".utf8))
            throw ExitCode(ExitStatus.ioError)
        } catch let error as PostgresError {
            FileHandle.standardError.write(Data("toolworker: database: \(error)\n".utf8))
            throw ExitCode(ExitStatus.ioError)
        }
    }
}

func makeLogger(verbose: Bool = false, format: LogFormat = .text) -> Logger {
    var logger = Logger(label: "toolworker") { StderrLogHandler(label: $0, format: format) }
    logger.logLevel = verbose ? .debug : .info
    return logger
}

/// The database as messages and logs show it: the SQLite path, or the PostgreSQL URL without its password.
func databaseLabel(_ config: ToolWorkerConfig) -> String {
    config.usesPostgres ? PostgresURL.masked(config.database) : config.database
}

/// The history for reading only (operators in the `toolworker` group need no write access).
func openHistory(_ config: ToolWorkerConfig) throws -> any JournalConnection {
    if config.usesPostgres {
        return try PostgresConnector(url: config.database, passwordFile: config.databasePasswordFile).openHistory()
    }
    guard FileManager.default.fileExists(atPath: config.database) else {
        throw CommandFailure(message: "no database at \(config.database) (nothing has run yet?)", code: ExitStatus.ioError)
    }
    return try AuditStore.openHistory(path: config.database)
}

/// The journal for writing (created and migrated when needed). A SQLite file's folder must exist: a typo in
/// `database:` is reported, not created.
func openStore(_ config: ToolWorkerConfig, leaseOwner: LeaseOwner? = nil) throws -> AuditStore {
    if config.usesPostgres {
        return try AuditStore(
            connector: PostgresConnector(url: config.database, passwordFile: config.databasePasswordFile), leaseOwner: leaseOwner)
    }
    try requireDatabaseFolder(config)
    return try AuditStore(path: config.database, leaseOwner: leaseOwner, durability: config.databaseDurability == .normal ? .normal : .full)
}

/// A SQLite journal's folder must exist (78 otherwise): a typo in `database:` is reported, never created.
func requireDatabaseFolder(_ config: ToolWorkerConfig) throws {
    let folder = URL(fileURLWithPath: config.database).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CommandFailure(
            message: "\(config.file): database: the folder \(folder) does not exist (create it, or fix the path)",
            code: ExitStatus.config)
    }
}

/// The driver `run` and `serve` use: every provider with both protocols, the configured tools, snapshot policy and
/// round limits. Each provider's keys tell the journal when one is disabled (for `status`, a restart and the fleet).
func makeDriver(
    _ config: ToolWorkerConfig, _ clients: [ProviderClient], store: AuditStore, registry: ToolRegistry, logger: Logger
) -> RunDriver {
    var dispatcher = ToolDispatcher(registry: registry, maxConcurrentCalls: config.concurrency.toolCalls)
    // No key of any provider is ever shown to a handler, even when a server echoes it into a call's arguments.
    dispatcher.secrets = clients.flatMap { $0.configuration.keys.keys.map(\.secret) }
    dispatcher.tracesContent = tracesContent
    let routes = clients.map { client in
        var route = ProviderRoute(name: client.provider.name, backends: Protocols.backends(config, client.provider, client.configuration, logger: logger))
        route.modelAliases = client.provider.modelAliases
        route.dailyBudget = config.dailyBudget(of: client.provider)
        return route
    }
    var driver = RunDriver(providers: routes, journal: store, dispatcher: dispatcher, policy: config.snapshots, logger: logger)
    driver.fallback = config.fallback
    driver.maxRounds = config.maxRounds
    driver.maxCallsPerRound = config.maxCallsPerRound
    driver.maxArgumentBytes = config.maxArgumentBytes
    driver.approvalNotifier = config.approvalNotify.map { ApprovalNotifier(command: $0) }
    driver.approvalSeal = ApprovalSeal(key: clients[0].configuration.apiKey)
    driver.usageLedger = UsageLedger(prices: config.prices, logger: logger)
    driver.threadBudget = config.threadBudget
    return driver
}

/// `clients` sharing one rate limiter, each key pool telling the journal of a key it disables.
func sharingLimits(_ clients: [ProviderClient], limiter: RateLimiter, store: AuditStore) -> [ProviderClient] {
    clients.map { client in
        var client = client
        client.configuration.rateLimiter = limiter
        client.configuration.keys = client.configuration.keys.reporting { key, until, reason in
            Task { try? await store.recordCooldown(RateLimitCooldown(scope: APIKeyPool.scope(label: key.label), until: until, reason: reason)) }
        }
        return client
    }
}
