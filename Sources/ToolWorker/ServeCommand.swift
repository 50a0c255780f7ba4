import ArgumentParser
import Foundation
import Logging
import RunLoopCore
import ServiceLifecycle
import UnixSignals

/// `toolworker serve`: the daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run as a service: take jobs from the queue, resume open runs, answer their tool calls.",
        discussion: """
            For systemd Type=notify: READY=1 once the store is open and the tools are loaded, STATUS= with live \
            counts, WATCHDOG=1 from the work loop, SIGHUP reloads the tool registry (RELOADING=1 … READY=1), \
            SIGTERM/SIGINT stop gracefully (STOPPING=1) and exit 0.
            """)

    @OptionGroup var options: ConfigOption
    @Flag(help: "Log debug detail.") var verbose = false

    func run() async throws {
        try await guarded {
            signal(SIGPIPE, SIG_IGN)
            let openFiles = raiseOpenFileLimit()
            let config = try options.load()
            var clients = try options.providerClients(config)
            let logger = makeLogger(verbose: verbose, format: config.logFormat)
            let traces = startTracing(logger: logger)
            // Metrics first: every counter made from here on reports to the Prometheus registry.
            let metrics = MetricsExport()
            metrics.recordBuildInfo(
                version: ToolWorkerVersion.string, protocolName: config.api.protocolName, sqlite: AuditStore.sqliteVersion,
                libcurl: CurlLibrary.version)
            // The console's tokens are read before anything starts: a bad token file is a configuration error.
            let consoleTokens: [(identity: String, token: String)]?
            do { consoleTokens = try config.console?.tokens() } catch {
                throw CommandFailure(message: "\(config.file): \(error)", code: ExitStatus.config)
            }
            // Every run this daemon drives carries its lease (renewed each heartbeat); a SQLite journal also takes the
            // daemon lock (one serve per file), a PostgreSQL one is shared by a fleet.
            let owner = LeaseOwner(id: LeaseOwner.makeID(host: ProcessInfo.processInfo.hostName), expiry: config.fleet.leaseExpiry)
            let store = try await openStoreWaiting(config, leaseOwner: owner, logger: logger)
            var lock: DaemonLock?
            if !config.usesPostgres {
                do {
                    lock = try DaemonLock(database: config.database)
                } catch let held as DaemonLock.HeldElsewhere {
                    store.close()
                    throw CommandFailure(message: "\(held)", code: ExitStatus.alreadyRunning)
                } catch {
                    store.close()
                    throw CommandFailure(message: "cannot take the daemon lock beside \(config.database): \(error)", code: ExitStatus.ioError)
                }
            }
            defer {
                store.close()
                withExtendedLifetime(lock) {}
            }
            // One listener serves /metrics and, when configured, the console (which needs the journal).
            let listener = try startListener(config, metrics: metrics, consoleTokens: consoleTokens, store: store, logger: logger)
            defer { listener?.stop() }
            let notifier = SystemdNotifier()
            let shutdown = ShutdownSignal()
            // Every tool source is listed (servers it needs started) before the first run: its tools are offered from
            // the start.
            sweepStaleSandboxes(config, logger: logger)
            let toolSources = ToolSources(logger: logger)
            let registry = await toolSources.registry(config, logger: logger)
            let limiter = makeRateLimiter(config, store: store, parks: true)
            clients = sharingLimits(clients, limiter: limiter, store: store)
            let driver = makeDriver(config, clients, store: store, registry: registry, logger: logger)
            var schedulerConfiguration = JobScheduler.Configuration()
            schedulerConfiguration.rateLimitBoard = LimiterBoard(limiter: limiter, pools: clients.map(\.configuration.keys))
            schedulerConfiguration.maxRuns = config.concurrency.runs
            let fitting = runsWithinOpenFileLimit(openFiles)
            if config.concurrency.runs > fitting {
                // Past the descriptor limit, connections and the journal would fail at random: run fewer at once.
                logger.warning("concurrency.runs is more than the open-file limit allows; running fewer at once", metadata: [
                    "concurrency_runs": "\(config.concurrency.runs)", "open_file_limit": "\(openFiles)", "runs": "\(fitting)",
                ])
                schedulerConfiguration.maxRuns = fitting
            }
            schedulerConfiguration.retryBackoff = config.jobs.retryBackoff
            schedulerConfiguration.shutdownGrace = config.shutdownGrace
            schedulerConfiguration.heartbeat = config.fleet.heartbeat
            schedulerConfiguration.recordsGauges = config.metrics.listen != nil || config.metrics.textfile != nil
            let scheduler = JobScheduler(configuration: schedulerConfiguration, driver: driver, store: store, notifier: notifier, shutdown: shutdown)
            let worker = WorkerService(
                scheduler: scheduler, notifier: notifier, configFile: config.file, maxToolCalls: config.concurrency.toolCalls,
                logger: logger, tools: registry.names, metrics: metrics, metricsTextfile: config.metrics.textfile, toolSources: toolSources)
            var groupConfiguration = ServiceGroupConfiguration(
                services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            groupConfiguration.maximumGracefulShutdownDuration = config.shutdownGrace + .seconds(10)
            let group = ServiceGroup(configuration: groupConfiguration)
            for warning in config.warnings { logger.warning("\(config.file): \(warning)") }
            logger.info("toolworker serve starting", metadata: [
                "database": "\(databaseLabel(config))", "lease_owner": "\(owner.id)", "base_url": "\(BaseURL.masked(clients[0].configuration.baseURL))", "providers": "\(clients.map(\.provider.name).joined(separator: ","))", "tools": "\(config.tools.count)",
            ])
            do { try await group.run() } catch {
                await toolSources.shutdown()
                await traces?.flush()
                throw error
            }
            await toolSources.shutdown()
            await traces?.flush()
            logger.info("toolworker serve stopped")
        }
    }
}

/// The worker as a lifecycle service: readiness, the scheduler, SIGHUP reloads, graceful stop.
struct WorkerService: Service {
    let scheduler: JobScheduler
    let notifier: SystemdNotifier
    let configFile: String
    let maxToolCalls: Int
    let logger: Logger
    let tools: [String]
    let metrics: MetricsExport
    let metricsTextfile: String?
    let toolSources: ToolSources

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        warnIfNotTaken("READY=1", sent: notifier.ready(status: "ready; tools: \(tools.joined(separator: ", "))"))
        logger.info("ready", metadata: ["tools": "\(tools.joined(separator: ","))"])
        let scheduler = self.scheduler
        let notifier = self.notifier
        let logger = self.logger
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in signals.cancelOnGracefulShutdown() { await reload() }
                }
                if let textfile = metricsTextfile {
                    group.addTask { await writeTextfile(textfile) }
                }
                try await scheduler.run()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            warnIfNotTaken("STOPPING=1", sent: notifier.stopping())
            logger.notice("stopping: no new jobs; running handlers may finish within the grace period")
            scheduler.shutdown.trigger()
        }
    }

    /// Writes the metrics textfile every 5 seconds until cancelled, and once more at the end.
    func writeTextfile(_ path: String) async {
        var failing = false
        while true {
            do {
                try metrics.writeTextfile(path)
                failing = false
            } catch {
                if !failing { logger.error("cannot write the metrics textfile", metadata: ["path": "\(path)", "error": "\(error)"]) }
                failing = true
            }
            do {
                try await Task.sleep(for: .seconds(5))
            } catch {
                try? metrics.writeTextfile(path)
                return
            }
        }
    }

    /// Logs a state change the service manager did not take (under systemd only: without a notify socket nothing is
    /// sent and nothing is missing).
    func warnIfNotTaken(_ state: String, sent: Bool) {
        guard notifier.isEnabled, !sent else { return }
        logger.warning("the service manager did not take \(state) (its notify socket is full or gone)")
    }

    /// Re-reads the configuration's tool registry; a configuration that does not load is refused whole.
    func reload() async {
        warnIfNotTaken("RELOADING=1", sent: notifier.reloading())
        do {
            let config = try ConfigLoader.load(file: configFile)
            for warning in config.warnings { logger.warning("\(configFile): \(warning)") }
            let count = config.concurrency.toolCalls
            if count != maxToolCalls {
                logger.warning("concurrency.tool_calls changes take effect at the next restart")
            }
            // Every source is listed again (a changed server restarted, a removed one stopped).
            let registry = await toolSources.registry(config, logger: logger)
            scheduler.replaceRegistry(registry)
            // READY=1 before the log line: whoever sees "configuration reloaded" knows the manager was told.
            warnIfNotTaken("READY=1", sent: notifier.notify([("READY", "1"), ("STATUS", "reloaded; tools: \(registry.names.joined(separator: ", "))")]))
            logger.notice("configuration reloaded", metadata: ["tools": "\(registry.names.joined(separator: ","))"])
        } catch {
            warnIfNotTaken("READY=1", sent: notifier.notify([("READY", "1"), ("STATUS", "reload refused: configuration invalid; previous one kept")]))
            logger.error("reload refused; keeping the running configuration", metadata: ["error": "\(error)"])
        }
    }
}

/// Raises the soft limit on open files to the hard one: every streaming run holds a socket, and systemd's default
/// soft limit (1024) is far below `concurrency.runs`' range, while its hard limit (524288) is not.
/// - Returns: the soft limit now in force.
@discardableResult
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
    }
    return Int(clamping: limit.rlim_cur)
}

/// How many runs fit in `openFiles` descriptors: each holds a connection or two (a stream, a request beside it)
/// and its handlers' pipes; 64 are kept for the journal, the metrics listener and the rest.
func runsWithinOpenFileLimit(_ openFiles: Int) -> Int {
    max(1, (openFiles - 64) / 4)
}


/// The journal for `serve`: a PostgreSQL server that cannot be reached yet (restarting with the host, a short
/// outage) is tried again with backoff, each failure logged, for up to 45 s (inside the unit's TimeoutStartSec=60s),
/// so the unit does not fail on a blip; one that answers and refuses (authentication, not a journal) fails at once.
func openStoreWaiting(_ config: ToolWorkerConfig, leaseOwner: LeaseOwner, logger: Logger) async throws -> AuditStore {
    let deadline = ContinuousClock.now + .seconds(45)
    var delay: Duration = .milliseconds(500)
    while true {
        do {
            return try openStore(config, leaseOwner: leaseOwner)
        } catch let error as PostgresError where error.isUnreachable && ContinuousClock.now + delay < deadline {
            logger.warning("the PostgreSQL journal cannot be reached yet; trying again", metadata: [
                "database": "\(databaseLabel(config))", "error": "\(error)", "retry_in_ms": "\(delay.milliseconds)",
            ])
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(8))
        }
    }
}
