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
            let clientConfiguration = try options.clientConfiguration(config)
            signal(SIGPIPE, SIG_IGN)
            let store = try openStore(config)
            defer { store.close() }
            let logger = makeLogger(verbose: verbose)
            let driver = RunDriver(
                client: AssistantsClient(configuration: clientConfiguration, logger: logger), store: store,
                dispatcher: ToolDispatcher(registry: ToolRegistry(config.tools), maxConcurrentCalls: config.concurrency.toolCalls),
                policy: config.snapshots, logger: logger)
            let outcome = try await driver.run(target.request)
            var lines = [
                "run: \(outcome.runID ?? "(none)")", "thread: \(outcome.threadID ?? "(none)")", "status: \(outcome.status)",
                "rounds: \(outcome.rounds)",
            ]
            if let detail = outcome.detail { lines.append("detail: \(detail)") }
            if let text = outcome.finalText { lines.append("answer: \(text)") }
            print(lines.joined(separator: "\n"))
            let code = ExitStatus.forRunStatus(outcome.status)
            if code != 0 { throw ExitCode(code) }
        }
    }
}
