import ArgumentParser
import Foundation
import Logging
import RunLoopCore

/// `toolworker check-config`.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the configuration file and the handlers it names.")

    @OptionGroup var options: ConfigOption
    @Flag(help: "A PostgreSQL journal that cannot be reached now is a warning, not exit 74 (the unit's ExecStartPre: serve waits for it).")
    var allowUnreachable = false

    func run() async throws {
        try await guarded {
            let config = try options.load()
            var notes: [String] = []
            for provider in config.effectiveProviders {
                do {
                    let client = try config.clientConfiguration(provider: provider, environment: ProcessInfo.processInfo.environment)
                    let keys = client.keys.keys.count == 1 ? "key found" : "\(client.keys.keys.count) keys found"
                    notes.append(config.providers.isEmpty
                        ? "api: \(BaseURL.masked(client.baseURL)) (\(keys))"
                        : "provider \(provider.name): \(BaseURL.masked(client.baseURL)), \(provider.protocolName) (\(keys))")
                } catch let error as ConfigError {
                    // A key that is not there yet may come with the unit's environment or credentials at start: a
                    // warning. A key that is there but unusable, or a bad OPENAI_BASE_URL, `serve` refuses: so does this.
                    let refused = error.problems.contains { $0.path == "OPENAI_BASE_URL" || $0.message.contains("printable ASCII") }
                    guard !refused else { throw CommandFailure(message: error.description, code: ExitStatus.config) }
                    notes.append("warning: \(error.problems.map(\.description).joined(separator: "; "))")
                }
            }
            if !config.fallback.isEmpty { notes.append("fallback: \(config.fallback.joined(separator: " → "))") }
            notes += config.warnings.map { "warning: \($0)" }
            // Which mechanism would enforce `limits:` here (configured limits it cannot enforce were refused above).
            notes += (config.sandboxHost ?? SandboxHost.detect()).report
            // Every tool source is listed for real (servers started and stopped); one that cannot be listed now is a
            // warning (serve offers the rest and lists it again at each reload).
            let listings = await ToolSources.listOnce(config)
            for (source, listing) in listings {
                if let label = source.label, !listing.executors.isEmpty || !listing.problems.isEmpty {
                    notes.append("\(label) tools: \(listing.executors.isEmpty ? "(none)" : listing.executors.map(\.name).joined(separator: ", "))")
                }
                notes += listing.problems.map { "warning: \($0)" }
            }
            if listings.allSatisfy({ $0.listing.executors.isEmpty }) {
                notes.append("warning: no tools are registered: every tool call will be answered with an error")
            }
            if !config.usesPostgres {
                // What `serve` checks before it writes: the folder exists, and a file there is a ToolWorker journal
                // this build can use (read only: nothing is created or migrated here).
                try requireDatabaseFolder(config)
                if FileManager.default.fileExists(atPath: config.database) {
                    do {
                        _ = try AuditStore.openHistory(path: config.database)
                    } catch let error as StoreCompatibilityError {
                        throw CommandFailure(message: "\(error)", code: ExitStatus.dataError)
                    } catch {
                        throw CommandFailure(message: "database \(config.database): \(error)", code: ExitStatus.ioError)
                    }
                }
            }
            if config.usesPostgres {
                // A shared journal is checked for real: reachable, authenticated, and ToolWorker's (or empty). With
                // --allow-unreachable (the unit's ExecStartPre) one that cannot be reached *now* is a warning: `serve`
                // waits for it, and a database restarting with the host must not fail the unit.
                let connection: PostgresConnection
                do {
                    connection = try PostgresConnection(url: config.database, passwordFile: config.databasePasswordFile, readOnly: true)
                } catch let error as PostgresError where error.isUnreachable && allowUnreachable {
                    print("configuration \(config.file) is valid")
                    print("database: \(databaseLabel(config))")
                    print("warning: the PostgreSQL journal cannot be reached now (serve waits up to 45 s for it): \(error)")
                    for note in notes { print(note) }
                    return
                }
                let version = try PostgresSchema.checkCompatibility(connection)
                let server = connection.serverVersion
                notes.insert(
                    "database: PostgreSQL \(server / 10000).\(server % 10000) reachable; "
                        + (version == 0 ? "no journal yet (the daemon or `toolworker migrate` creates it)" : "schema version \(version) of \(PostgresSchema.version)"),
                    at: 0)
            }
            print("configuration \(config.file) is valid")
            print("database: \(databaseLabel(config))")
            print("snapshots: \(config.snapshots.rawValue); concurrency: \(config.concurrency.runs) runs, \(config.concurrency.toolCalls) tool calls")
            print("tools: \(config.tools.map(\.name).joined(separator: ", "))")
            for note in notes { print(note) }
        }
    }
}

/// `toolworker tools`.
struct ToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tools", abstract: "List every tool the configuration offers: handlers, the shell, the workspace, MCP servers' tools.")

    @OptionGroup var options: ConfigOption
    @Flag(help: "A PostgreSQL journal that cannot be reached now is a warning, not exit 74 (the unit's ExecStartPre: serve waits for it).")
    var allowUnreachable = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await guarded {
            let config = try options.load()
            // Every source, listed once (servers started for the listing and stopped after it); what one could not
            // list is said on stderr.
            let listings = await ToolSources.listOnce(config)
            for problem in listings.flatMap(\.listing.problems) { FileHandle.standardError.write(Data("warning: \(problem)\n".utf8)) }
            let tools = listings.flatMap(\.listing.executors)
            if json {
                print(JSONValue.array(tools.map(Self.json)).serialized())
                return
            }
            for tool in tools {
                print(([tool.name, tool.handlerDescription] + Self.policyFields(tool.policy)).joined(separator: "\t"))
            }
        }
    }

    /// `timeout=…`, `max_output=…`, `on_restart=…`: the policy settings that apply to the tool's kind.
    static func policyFields(_ policy: ToolPolicy) -> [String] {
        var fields: [String] = []
        if policy.keys.contains(.timeout) { fields.append("timeout=\(policy.timeout)") }
        if policy.keys.contains(.maxOutputBytes) { fields.append("max_output=\(policy.maxOutputBytes)") }
        fields.append("on_restart=\(policy.onRestart.rawValue)")
        return fields
    }

    static func json(_ tool: any ToolExecutor) -> JSONValue {
        var object: JSONObject = ["name": .string(tool.name), "kind": .string(tool.definition.kind.rawValue)]
        for (key, value) in tool.listingDetails { object[key] = value }
        if tool.policy.keys.contains(.timeout) { object["timeout_ms"] = .int(Int64(tool.policy.timeout.milliseconds)) }
        if tool.policy.keys.contains(.maxOutputBytes) { object["max_output_bytes"] = .int(Int64(tool.policy.maxOutputBytes)) }
        object["on_restart"] = .string(tool.policy.onRestart.rawValue)
        object["description"] = tool.definition.description.map(JSONValue.string) ?? .null
        return .object(object)
    }
}
