import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker enqueue`.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue", abstract: "Queue a run for the daemon; prints the job id.")

    @OptionGroup var options: ConfigOption
    @OptionGroup var target: RunTargetOptions
    @Option(help: "Attempts when runs fail for a retryable reason, 1 to 100 (default: jobs.max_attempts).") var maxAttempts: Int?

    func validate() throws {
        if let maxAttempts, !(1...100).contains(maxAttempts) {
            throw ValidationError("--max-attempts takes 1 to 100, not \(maxAttempts)")
        }
    }

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let store = try openStore(config)
            defer { store.close() }
            let request = try await target.resolvingNewConversation(try target.request(config)) { try target.client(of: $0, try options.providerClients(config)) }
            let meta = request.metadataJSON
            let id = try await store.enqueueJob(
                assistantID: request.assistantID, threadID: request.threadID, message: request.message,
                instructions: request.instructions, metadata: meta.isEmpty ? nil : .object(meta),
                maxAttempts: maxAttempts ?? config.jobs.maxAttempts, protocolName: request.protocolName, model: request.model,
                options: request.jobOptions)
            print(id)
        }
    }
}

/// `toolworker cancel RUN`.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Ask the server to cancel a run and record the answer.")

    @OptionGroup var options: ConfigOption
    @Argument(help: "The run id.") var run: String

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let clients = try options.providerClients(config)
            let store = try openStore(config)
            defer { store.close() }
            guard let record = try await store.run(runID: run) else {
                throw CommandFailure(message: "no run \(run) in \(databaseLabel(config))", code: ExitStatus.usage)
            }
            // The run's loop lives on the provider it was sent to.
            let providerName = record.request?["provider"]?.stringValue
            guard let client = providerName.map({ name in clients.first { $0.provider.name == name } }) ?? clients.first else {
                throw CommandFailure(message: "run \(run) is on provider \(providerName ?? "?"), which this configuration does not have", code: ExitStatus.config)
            }
            let backends = Protocols.backends(config, client.provider, client.configuration, logger: makeLogger(verbose: false, format: config.logFormat))
            guard let backend = backends.first(where: { $0.protocolName == record.protocolName }) else {
                throw CommandFailure(message: "run \(run) is of protocol \(record.protocolName), which this build does not speak", code: ExitStatus.usage)
            }
            do {
                let answer = try await backend.cancel(id: run, threadID: record.threadID)
                try await store.updateRun(runKey: record.key, run: answer.record)
                print("\(run): \(answer.serverStatus)")
            } catch let error as LoopError where error.kind == .invalidArgument {
                // Nothing was sent (a run without its container in the journal).
                throw CommandFailure(message: "cannot cancel \(run): \(error)", code: ExitStatus.usage)
            } catch {
                // Already terminal, for example: record what the server says now.
                if let current = try? await backend.retrieve(id: run, threadID: record.threadID) {
                    try await store.updateRun(runKey: record.key, run: current.record)
                }
                throw CommandFailure(message: "cancel refused: \(error)", code: ExitStatus.error)
            }
        }
    }
}

/// `toolworker prune`.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete finished runs (and everything under them) older than a cut-off.")

    @OptionGroup var options: ConfigOption
    @Option(name: .customLong("older-than"), help: "Age of the runs to delete, for example 30d, 12h.") var olderThan: String

    func run() async throws {
        try await guarded {
            guard let age = Duration.parse(olderThan, requireUnit: true), age >= .zero else {
                throw CommandFailure(message: "--older-than takes a duration such as 30d or 12h, not '\(olderThan)'", code: ExitStatus.usage)
            }
            let store = try openStore(try options.load())
            defer { store.close() }
            let cutoff = unixMilliseconds() - Int64(age.milliseconds)
            let result = try await store.prune(endedBefore: cutoff)
            print("pruned \(result.runs) runs and \(result.jobs) jobs")
        }
    }
}

/// `toolworker sync-tools`.
struct SyncToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync-tools",
        abstract: "Publish the registered tools as the assistant's function tools, after showing the difference.")

    @OptionGroup var options: ConfigOption
    @Option(help: "The assistant to update.") var assistant: String
    @Option(help: "The provider the assistant is on (default: the first one).") var provider: String?
    @Flag(help: "Show the difference only.") var dryRun = false

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let clients = try options.providerClients(config)
            guard let clientConfiguration = (provider.map { name in clients.first { $0.provider.name == name } } ?? clients.first)?.configuration else {
                throw CommandFailure(message: "--provider: no provider is called '\(provider ?? "")'", code: ExitStatus.usage)
            }
            let client = AssistantsClient(configuration: clientConfiguration)
            let current = try await apiCall { try await client.retrieveAssistant(id: assistant) }
            let existing = current["tools"]?.arrayValue ?? []
            let kept = existing.filter { $0["type"]?.stringValue != "function" }
            var oldFunctions: [String: JSONValue] = [:]
            for tool in existing where tool["type"]?.stringValue == "function" {
                if let name = tool[path: "function.name"]?.stringValue { oldFunctions[name] = tool }
            }
            // Every tool of the registry, from every source; Assistants have function tools only: custom
            // (free-form) tools, shells and patches are for the Responses API.
            let logger = makeLogger(verbose: false, format: config.logFormat)
            let toolSources = ToolSources(logger: logger)
            let registry = await toolSources.registry(config, logger: logger)
            await toolSources.shutdown()
            let functions = registry.definitions.filter { $0.kind == .function }
            let wanted = functions.map { definition -> JSONValue in
                var function: JSONObject = ["name": .string(definition.name)]
                if let description = definition.description { function["description"] = .string(description) }
                function["parameters"] = definition.parameters ?? ["type": "object", "properties": [:]]
                return ["type": "function", "function": .object(function)]
            }
            var changes: [String] = []
            for tool in wanted {
                let name = tool[path: "function.name"]?.stringValue ?? "?"
                if let old = oldFunctions[name] {
                    if old["function"] != tool["function"] { changes.append("~ \(name)") }
                } else {
                    changes.append("+ \(name)")
                }
            }
            for name in oldFunctions.keys.sorted() where !functions.contains(where: { $0.name == name }) {
                changes.append("- \(name)")
            }
            if changes.isEmpty {
                print("\(assistant): function tools already match the registry")
                return
            }
            print("\(assistant): " + changes.joined(separator: ", "))
            if dryRun { return }
            _ = try await apiCall { try await client.updateAssistant(id: assistant, ["tools": .array(kept + wanted)]) }
            print("updated")
        }
    }

    func apiCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw CommandFailure(message: "\(error)", code: ExitStatus.error)
        }
    }
}
