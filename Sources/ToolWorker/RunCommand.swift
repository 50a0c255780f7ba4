import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker run`: one run in the foreground, to its end.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start one run and drive it to its end in the foreground.",
        discussion: """
            Prints the run id and its final status. Exit status: 0 completed, 10 failed, 11 incomplete, \
            12 expired, 13 cancelled, 14 could not be started or followed, 64 usage, 74 database, 78 configuration.
            """)

    @OptionGroup var options: ConfigOption
    @OptionGroup var target: RunTargetOptions
    @Flag(help: "Log debug detail.") var verbose = false

    func run() async throws {
        try await guarded {
            let config = try options.load()
            var clients = try options.providerClients(config)
            signal(SIGPIPE, SIG_IGN)
            // On a shared (PostgreSQL) journal the run holds a lease like a daemon's, renewed while it is driven
            // here, so no daemon of the fleet takes it over.
            let owner = config.usesPostgres
                ? LeaseOwner(id: LeaseOwner.makeID(host: ProcessInfo.processInfo.hostName), expiry: config.fleet.leaseExpiry) : nil
            let store = try openStore(config, leaseOwner: owner)
            defer { store.close() }
            let logger = makeLogger(verbose: verbose, format: config.logFormat)
            let traces = startTracing(logger: logger)
            // In the foreground a rate limit is waited for, never parked; the journal's running cool-downs count.
            let limiter = makeRateLimiter(config, store: store, parks: false)
            clients = sharingLimits(clients, limiter: limiter, store: store)
            LimiterBoard(limiter: limiter, pools: clients.map(\.configuration.keys)).adopt((try? await store.activeCooldowns()) ?? [])
            let toolSources = ToolSources(logger: logger)
            let registry = await toolSources.registry(config, logger: logger)
            var driver = makeDriver(config, clients, store: store, registry: registry, logger: logger)
            let leases = owner.map { LeaseKeeper(owner: $0, heartbeat: config.fleet.heartbeat) }
            driver.leases = leases
            let heartbeat = leases.map { keeper in
                Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: keeper.heartbeat)
                        do { try await keeper.beat(store) } catch {
                            logger.warning("renewing the run's lease failed", metadata: ["error": "\(error)"])
                        }
                    }
                }
            }
            defer { heartbeat?.cancel() }
            let signalSources = RunCommand.stopHandlersOnSignals()
            defer { signalSources.forEach { $0.cancel() } }
            let request = try await target.resolvingNewConversation(try target.request(config)) { try target.client(of: $0, clients) }
            let outcome: RunOutcome
            do {
                outcome = try await driver.run(request)
            } catch where HandlerProcessGroups.isStopping {
                await RunCommand.waitForSignalExit()
                throw error
            } catch {
                await toolSources.shutdown()
                await traces?.flush()
                throw error
            }
            await toolSources.shutdown()
            await traces?.flush()
            // A signal arrived: its handler stops the handlers and exits; nothing more is printed or recorded here.
            if HandlerProcessGroups.isStopping { await RunCommand.waitForSignalExit() }
            var lines = [
                "run: \(outcome.runID ?? "(none)")",
                "\(Protocols.descriptor(request.protocolName)?.containerName ?? "thread"): " + (outcome.threadID ?? "(none)"),
                "status: \(outcome.status.rawValue)",
                "rounds: \(outcome.rounds)",
            ]
            if let detail = outcome.detail { lines.append("detail: \(detail)") }
            if let text = outcome.finalText { lines.append("answer: \(text)") }
            // Server text on a terminal: control characters shown, never obeyed (ESC sequences, CR over a line).
            let output = lines.joined(separator: "\n")
            print(isatty(STDOUT_FILENO) == 1 ? ControlCharacters.escaped(output, keepNewlines: true) : output)
            let code = ExitStatus.forOutcome(outcome.status)
            if code != 0 { throw ExitCode(code) }
        }
    }

    /// Suspends until the signal handler's `exit` ends the process.
    static func waitForSignalExit() async {
        while true { try? await Task.sleep(for: .seconds(3600)) }
    }

    /// SIGTERM or SIGINT: stop the running handlers' process groups (SIGTERM, SIGKILL after 2 s), then exit with
    /// 128 + the signal. The interrupted calls stay `running` in the journal, so a later `serve` applies their
    /// `on_restart`; no handler is left running beside it. (The signals are blocked in `main`, so they arrive here.)
    static func stopHandlersOnSignals() -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("toolworker: stopped by signal \(number); stopping running handlers\n".utf8))
                HandlerProcessGroups.terminateAll()
                Glibc.exit(128 + number)
            }
            source.resume()
            return source
        }
    }
}
