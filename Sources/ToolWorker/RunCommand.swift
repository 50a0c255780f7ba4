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
    @Option(help: "The assistant to run.") var assistant: String
    @Option(help: "Run on this existing thread.") var thread: String?
    @Option(help: "A user message to start with (a new thread when --thread is not given).") var message: String?
    @Option(help: "Instructions overriding the assistant's.") var instructions: String?
    @Option(help: "Run metadata as KEY=VALUE (repeatable).") var metadata: [String] = []
    @Flag(help: "Log debug detail.") var verbose = false

    func validate() throws {
        if thread == nil && message == nil {
            throw ValidationError("give --thread ID or --message TEXT (or both)")
        }
        for pair in metadata where !pair.contains("=") || pair.hasPrefix("=") {
            throw ValidationError("--metadata takes KEY=VALUE, not '\(pair)'")
        }
        if metadata.count > 14 {
            throw ValidationError("at most 14 --metadata pairs (the API takes 16; ToolWorker adds toolworker_run and toolworker_job)")
        }
    }

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
            var pairs: [String: String] = [:]
            for pair in metadata {
                let parts = pair.split(separator: "=", maxSplits: 1)
                pairs[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            let outcome = try await driver.run(
                RunRequest(assistantID: assistant, threadID: thread, message: message, instructions: instructions, metadata: pairs))
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
