import Operations
import OpenAIClient
import ToolRunner
import WorkModel
import WireFormat
import Foundation
import Yams

/// Reads and validates a ToolWorker YAML configuration.
///
/// Every problem is collected with its key path and line: unknown keys, wrong types, bad durations, a handler
/// that is missing or not executable. Relative paths (`database`, `command[0]`, `working_directory`,
/// `api_key_file`) are taken relative to the configuration file's folder.
public enum ConfigLoader {
    /// The largest configuration file read (a typo'd path to a log or a database fails clearly and fast).
    public static let maximumFileBytes = 1024 * 1024

    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ToolWorkerConfig {
        if let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int, size > maximumFileBytes {
            throw ConfigError(file: file, problems: [ConfigProblem(path: "", line: nil, message: "larger than \(maximumFileBytes) bytes; not a configuration file?")])
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ConfigError(file: file, problems: [ConfigProblem(path: "", line: nil, message: "cannot read the file (missing, unreadable, or not UTF-8)")])
        }
        return try parse(text, file: file, environment: environment)
    }

    /// What a YAML error says, by line, without the file's text: Yams' own description quotes the offending line,
    /// which can hold a password or (for `--config /proc/self/environ`) the API key.
    static func yamlProblem(_ error: any Error) -> (message: String, line: Int?) {
        guard let yaml = error as? YamlError else { return ("not valid YAML", nil) }
        switch yaml {
        case .reader(let problem, let offset, _, _):
            return ("not valid YAML: \(problem)" + (offset.map { " at byte \($0)" } ?? ""), nil)
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return ("not valid YAML: \(context.map { "\($0.text), " } ?? "")\(problem) (column \(mark.column))", mark.line)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ("not valid YAML: duplicated keys \(duplicates.sorted().joined(separator: ", "))", context.mark.line)
        default:
            return ("not valid YAML", nil)
        }
    }

    public static func parse(_ text: String, file: String, environment: [String: String] = [:]) throws -> ToolWorkerConfig {
        var reader = Reader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            let (message, line) = yamlProblem(error)
            throw ConfigError(file: file, problems: [ConfigProblem(path: "", line: line, message: message)])
        }
        var config = ToolWorkerConfig(file: file)
        if let stateDirectory = environment["STATE_DIRECTORY"]?.split(separator: ":").first {
            config.database = "\(stateDirectory)/toolworker.db"
        }
        guard let root, root != Node("") else {
            // Nothing at all (or only comments): almost certainly the wrong file, or one cut short.
            throw ConfigError(file: file, problems: [ConfigProblem(path: "", line: nil, message: "the configuration is empty")])
        }
        reader.read(root, into: &config)
        reader.checkBuiltInNames(config)
        reader.checkLimits(&config, environment: environment)
        if !reader.problems.isEmpty { throw ConfigError(file: file, problems: reader.problems) }
        config.warnings = reader.warnings
        return config
    }
}

extension Reader {
    /// A handler may not take the name of a built-in tool the configuration also has (`apply_patch:`, `shell:`):
    /// the registry would offer one and silently drop the other.
    mutating func checkBuiltInNames(_ config: ToolWorkerConfig) {
        var builtIn: [String: String] = [:]
        if config.applyPatch != nil { builtIn[ToolKind.applyPatch.rawValue] = "apply_patch:" }
        if let shell = config.shell { builtIn[shell.kind.rawValue] = "shell:" }
        for tool in config.tools {
            if let section = builtIn[tool.name] {
                problem("tools.\(tool.name)", nil, "the name '\(tool.name)' is the built-in tool of the \(section) section: rename the handler or remove that section")
            }
        }
    }
}

/// Walks the YAML tree, filling a config and collecting problems.
struct Reader {
    /// What is allowed but unwise (a handler others can write), for `check-config` and the daemon's start log.
    var warnings: [String] = []
    let file: String
    let folder: URL
    var problems: [ConfigProblem] = []

    init(file: String) {
        self.file = file
        self.folder = URL(fileURLWithPath: file).deletingLastPathComponent()
    }

    mutating func problem(_ path: String, _ node: Node?, _ message: String) {
        problems.append(ConfigProblem(path: path, line: node?.mark.map { $0.line }, message: message))
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : folder.appendingPathComponent(path).standardizedFileURL.path
    }

    mutating func mapping(_ node: Node, _ path: String, allowed: [String]) -> [(String, Node)]? {
        guard case .mapping(let mapping) = node else {
            problem(path, node, "expected a mapping of keys")
            return nil
        }
        var pairs: [(String, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                problem(path, keyNode, "keys must be strings")
                continue
            }
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if !allowed.isEmpty && !allowed.contains(key) {
                problem(childPath, keyNode, "unknown key '\(key)' (known here: \(allowed.joined(separator: ", ")))")
                continue
            }
            pairs.append((key, value))
        }
        return pairs
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node else {
            problem(path, node, "expected a string")
            return nil
        }
        return scalar.string
    }

    mutating func integer(_ node: Node, _ path: String, min: Int = 1, max: Int) -> Int? {
        guard case .scalar = node, let value = node.int else {
            problem(path, node, "expected a whole number")
            return nil
        }
        guard value >= min, value <= max else {
            problem(path, node, "must be from \(min) to \(max)")
            return nil
        }
        return value
    }

    /// `HOST:PORT` with an IPv4 literal, or `[IPv6]:PORT`; port 0–65535 (0: any free port, which the log names).
    static func listenAddress(_ text: String) -> (host: String, port: Int)? {
        let host: String
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = text[text.index(close, offsetBy: 2)...]
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, host, &v6) == 1 else { return nil }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            var v4 = in_addr()
            guard inet_pton(AF_INET, host, &v4) == 1 else { return nil }
        }
        guard let port = Int(portText), (0...65535).contains(port) else { return nil }
        return (host, port)
    }

    /// The longest duration a configuration key takes.
    static let maximumDuration: Duration = .seconds(365 * 86_400)

    mutating func duration(_ node: Node, _ path: String) -> Duration? {
        guard case .scalar(let scalar) = node, let value = Duration.parse(scalar.string), value > .zero else {
            problem(path, node, "expected a positive, finite duration such as 500ms, 30s, 5m or 1h")
            return nil
        }
        guard value <= Reader.maximumDuration else {
            problem(path, node, "at most 365d")
            return nil
        }
        return value
    }

    mutating func read(_ root: Node, into config: inout ToolWorkerConfig) {
        let keys = [
            "api", "model", "instructions", "database", "database_password_file", "database_durability", "fleet", "snapshots", "concurrency", "jobs",
            "shutdown_grace", "metrics", "log", "tools", "max_rounds", "max_calls_per_round", "max_argument_bytes", "request_options", "shell", "apply_patch",
            "mcp_servers", "approval_notify", "prices", "rate_limits", "budgets", "providers", "fallback", "console",
        ]
        for (key, value) in mapping(root, "", allowed: keys) ?? [] {
            switch key {
            case "api": readAPI(value, &config.api)
            case "database":
                if let text = string(value, key), text.contains("\0") {
                    problem(key, value, "contains a NUL byte (the path or URL would be cut short there)")
                } else if let text = string(value, key) {
                    // A PostgreSQL URL is kept as written; anything else is a SQLite file path.
                    config.database = ToolWorkerConfig.isPostgresURL(text) ? text : resolve(text)
                    if text.isEmpty { problem(key, value, "an empty database path") }
                }
            case "database_password_file":
                if let path = string(value, key) {
                    let resolved = resolve(path)
                    if FileManager.default.isReadableFile(atPath: resolved) { config.databasePasswordFile = resolved } else {
                        problem(key, value, "cannot read \(resolved)")
                    }
                }
            case "database_durability":
                if let text = string(value, key) {
                    if let durability = ToolWorkerConfig.Durability(rawValue: text) { config.databaseDurability = durability } else {
                        problem(key, value, "expected full or normal, not '\(text)'")
                    }
                }
            case "fleet":
                for (k, v) in mapping(value, key, allowed: ["heartbeat", "lease_expiry"]) ?? [] {
                    if k == "heartbeat", let d = duration(v, "fleet.heartbeat") { config.fleet.heartbeat = d }
                    if k == "lease_expiry", let d = duration(v, "fleet.lease_expiry") { config.fleet.leaseExpiry = d }
                }
            case "snapshots":
                if let text = string(value, key) {
                    if let policy = SnapshotPolicy(rawValue: text) { config.snapshots = policy } else {
                        problem(key, value, "expected 'lifecycle' or 'all', not '\(text)'")
                    }
                }
            case "concurrency":
                for (k, v) in mapping(value, key, allowed: ["runs", "tool_calls"]) ?? [] {
                    if k == "runs", let n = integer(v, "concurrency.runs", max: 10_000) { config.concurrency.runs = n }
                    if k == "tool_calls", let n = integer(v, "concurrency.tool_calls", max: 4_096) { config.concurrency.toolCalls = n }
                }
            case "jobs":
                for (k, v) in mapping(value, key, allowed: ["max_attempts", "retry_backoff"]) ?? [] {
                    if k == "max_attempts", let n = integer(v, "jobs.max_attempts", max: 100) { config.jobs.maxAttempts = n }
                    if k == "retry_backoff", let d = duration(v, "jobs.retry_backoff") { config.jobs.retryBackoff = d }
                }
            case "shutdown_grace": if let d = duration(value, key) { config.shutdownGrace = d }
            case "metrics":
                for (k, v) in mapping(value, key, allowed: ["listen", "textfile"]) ?? [] {
                    guard let text = string(v, "metrics.\(k)") else { continue }
                    if k == "listen" {
                        if let address = Reader.listenAddress(text) { config.metrics.listen = address } else {
                            problem("metrics.listen", v, "expected HOST:PORT with an IP address, such as 127.0.0.1:9464 or [::1]:9464 (port 0: any free one, logged)")
                        }
                    } else {
                        let path = resolve(text)
                        var isDirectory: ObjCBool = false
                        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
                        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue {
                            config.metrics.textfile = path
                        } else {
                            problem("metrics.textfile", v, "the folder \(folder) does not exist")
                        }
                    }
                }
            case "log":
                for (k, v) in mapping(value, key, allowed: ["format"]) ?? [] where k == "format" {
                    guard let text = string(v, "log.format") else { continue }
                    if let format = LogFormat(rawValue: text) { config.logFormat = format } else {
                        problem("log.format", v, "expected 'text' or 'json', not '\(text)'")
                    }
                }
            case "tools": readTools(value, &config)
            case "model":
                if let text = string(value, key) {
                    if text.isEmpty { problem(key, value, "an empty model name") } else { config.model = text }
                }
            case "instructions": config.instructions = string(value, key)
            case "shell": readShell(value, &config)
            case "mcp_servers": readMCPServers(value, &config)
            case "prices": readPrices(value, &config)
            case "rate_limits": readRateLimits(value, &config)
            case "budgets": readBudgets(value, &config)
            case "providers": readProviders(value, &config)
            case "console": readConsole(value, &config)
            case "fallback": config.fallback = strings(value, key, what: "provider names") ?? []
            case "approval_notify": config.approvalNotify = command(value, key) ?? config.approvalNotify
            case "apply_patch":
                var root: String?
                var patch = ApplyPatchConfig(workspaceRoot: "")
                let entries = mapping(value, key, allowed: ["workspace_root", "max_file_bytes"] + Self.policyKeyNames(patch.policy.keys)) ?? []
                for (k, v) in readPolicy(entries, key, into: &patch.policy) {
                    switch k {
                    case "max_file_bytes": patch.maxFileBytes = integer(v, "apply_patch.max_file_bytes", min: 1, max: 1 << 30) ?? patch.maxFileBytes
                    case "workspace_root": root = directory(v, "apply_patch.workspace_root")
                    default: break
                    }
                }
                if let root {
                    patch.workspaceRoot = root
                    config.applyPatch = patch
                } else {
                    problem("apply_patch.workspace_root", value, "required: the folder the model's patches are confined to")
                }
            case "request_options":
                for (k, v) in mapping(value, key, allowed: RequestOptions.allowed) ?? [] {
                    var budget = Reader.maximumSchemaNodes
                    if let json = Reader.json(v, budget: &budget) { config.requestOptions[k] = json } else {
                        problem("request_options.\(k)", v, "too large")
                    }
                }
            case "max_rounds": config.maxRounds = integer(value, key, min: 1, max: 100_000) ?? config.maxRounds
            case "max_calls_per_round": config.maxCallsPerRound = integer(value, key, min: 1, max: 10_000) ?? config.maxCallsPerRound
            case "max_argument_bytes":
                config.maxArgumentBytes = integer(value, key, min: 1024, max: 256 * 1024 * 1024) ?? config.maxArgumentBytes
            default: break
            }
        }
        if config.fleet.leaseExpiry < config.fleet.heartbeat * 2 {
            problems.append(ConfigProblem(
                path: "fleet.lease_expiry", line: nil,
                message: "must be at least twice fleet.heartbeat (\(config.fleet.heartbeat)), or one late heartbeat hands a live daemon's runs to another"))
        }
        if config.databaseDurability != .full && ToolWorkerConfig.isPostgresURL(config.database) {
            problems.append(ConfigProblem(
                path: "database_durability", line: nil,
                message: "only for a SQLite journal (a PostgreSQL commit is as durable as the server's synchronous_commit makes it)"))
        }
        if config.databasePasswordFile != nil && !ToolWorkerConfig.isPostgresURL(config.database) {
            problems.append(ConfigProblem(path: "database_password_file", line: nil, message: "only used with a PostgreSQL database URL"))
        }
        if config.api.protocolName == "responses" && config.model == nil && config.providers.isEmpty {
            problem("model", nil, "required when api.protocol is responses (the model every request names)")
        }
        checkProviders(&config)
    }

    mutating func readAPI(_ node: Node, _ api: inout ToolWorkerConfig.API) {
        let keys = ["protocol", "base_url", "api_key_env", "api_key_file", "organization", "project", "connect_timeout", "idle_timeout", "max_retries",
            "state"]
        for (key, value) in mapping(node, "api", allowed: keys) ?? [] {
            let path = "api.\(key)"
            switch key {
            case "base_url":
                if let url = string(value, path) {
                    if let reason = BaseURL.problem(url) { problem(path, value, reason) } else { api.baseURL = url }
                }
            case "protocol": api.protocolName = protocolName(value, path) ?? api.protocolName
            case "api_key_env": api.apiKeyEnv = string(value, path) ?? api.apiKeyEnv
            case "api_key_file": api.apiKeyFile = string(value, path).map(resolve)
            case "organization", "project":
                guard let text = string(value, path) else { continue }
                guard HeaderValue.isSafe(text) else {
                    problem(path, value, "control characters (CR, LF, NUL, …) are not allowed in an HTTP header value")
                    continue
                }
                if key == "organization" { api.organization = text } else { api.project = text }
            case "connect_timeout": api.connectTimeout = duration(value, path) ?? api.connectTimeout
            case "idle_timeout": api.idleTimeout = duration(value, path) ?? api.idleTimeout
            case "max_retries": api.maxRetries = integer(value, path, min: 0, max: 20) ?? api.maxRetries
            case "state": api.state = conversationState(value, path) ?? api.state
            default: break
            }
        }
    }

    /// `shell: { tool: shell|local_shell, working_directory: DIR, timeout, max_output_bytes, env, on_restart }`.
    mutating func readShell(_ node: Node, _ config: inout ToolWorkerConfig) {
        var shell = ShellToolConfig(workingDirectory: "")
        let entries = mapping(node, "shell", allowed: ["tool", "working_directory", "env"] + Self.policyKeyNames(shell.policy.keys)) ?? []
        for (key, value) in readPolicy(entries, "shell", into: &shell.policy) {
            let path = "shell.\(key)"
            switch key {
            case "tool":
                if let text = string(value, path) {
                    if let kind = ToolKind(rawValue: text), kind.isShell { shell.kind = kind } else {
                        problem(path, value, "expected 'shell' or 'local_shell', not '\(text)'")
                    }
                }
            case "working_directory": shell.workingDirectory = directory(value, path) ?? shell.workingDirectory
            case "env": shell.environment.merge(environment(value, path)) { $1 }
            default: break
            }
        }
        guard !shell.workingDirectory.isEmpty else {
            problem("shell.working_directory", node, "required: the folder the model's commands run in")
            return
        }
        if config.tools.contains(where: { $0.name == shell.kind.rawValue }) {
            problem("shell", node, "a tool named '\(shell.kind.rawValue)' is registered too: rename it")
        }
        config.shell = shell
    }

    /// A folder that exists, resolved against the file's folder; `nil` (with the problem) otherwise.
    mutating func directory(_ node: Node, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        var isDirectory: ObjCBool = false
        let resolved = resolve(text)
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            problem(path, node, "\(resolved) is not a directory")
            return nil
        }
        return resolved
    }

    /// `rerun` or `fail`.
    mutating func restartPolicy(_ node: Node, _ path: String) -> RestartPolicy? {
        guard let text = string(node, path) else { return nil }
        guard let policy = RestartPolicy(rawValue: text) else {
            problem(path, node, "expected 'rerun' or 'fail', not '\(text)'")
            return nil
        }
        return policy
    }

    /// `VARIABLE: value` pairs.
    mutating func environment(_ node: Node, _ path: String) -> [String: String] {
        var environment: [String: String] = [:]
        for (variable, value) in mapping(node, path, allowed: []) ?? [] {
            if let text = string(value, "\(path).\(variable)") { environment[variable] = text }
        }
        return environment
    }

    /// `never`, `always`, or `{when: {ARGUMENT: VALUE, …}}` (every member present with that value; `"*"` any value).
    mutating func approvalRule(_ node: Node, _ path: String) -> ApprovalRule? {
        if case .scalar(let scalar) = node {
            switch scalar.string {
            case "never": return .never
            case "always": return .always
            default:
                problem(path, node, "expected never, always or {when: {ARGUMENT: VALUE}}, not '\(scalar.string)'")
                return nil
            }
        }
        guard let pairs = mapping(node, path, allowed: ["when"]), let when = pairs.first?.1 else {
            problem(path, node, "expected never, always or {when: {ARGUMENT: VALUE}}")
            return nil
        }
        var members: [String: JSONValue] = [:]
        for (key, value) in mapping(when, "\(path).when", allowed: []) ?? [] {
            var budget = Reader.maximumSchemaNodes
            if let json = Reader.json(value, budget: &budget) { members[key] = json }
        }
        guard !members.isEmpty else {
            problem("\(path).when", when, "name at least one argument to match")
            return nil
        }
        return .when(members)
    }

    mutating func readTools(_ node: Node, _ config: inout ToolWorkerConfig) {
        let keys = ["command", "env", "working_directory", "description", "parameters", "type", "format"]
        for (name, value) in mapping(node, "tools", allowed: []) ?? [] {
            let base = "tools.\(name)"
            guard name.range(of: "^[a-zA-Z0-9_-]{1,64}$", options: .regularExpression) != nil else {
                problem(base, value, "a tool name is 1 to 64 letters, digits, '_' or '-'")
                continue
            }
            var tool = ToolHandlerConfig(name: name, command: [])
            var sawCommand = false
            let entries = mapping(value, base, allowed: keys + Self.policyKeyNames(tool.policy.keys)) ?? []
            for (key, field) in readPolicy(entries, base, into: &tool.policy) {
                let path = "\(base).\(key)"
                switch key {
                case "command":
                    sawCommand = true
                    tool.command = command(field, path) ?? tool.command
                case "env": tool.environment.merge(environment(field, path)) { $1 }
                case "working_directory": tool.workingDirectory = directory(field, path) ?? tool.workingDirectory
                case "description": tool.description = string(field, path)
                case "parameters":
                    var budget = Reader.maximumSchemaNodes
                    guard let schema = Reader.json(field, budget: &budget) else {
                        problem(path, field, "larger than \(Reader.maximumSchemaNodes) nodes once YAML aliases are expanded")
                        continue
                    }
                    if schema.objectValue == nil { problem(path, field, "expected a JSON-schema mapping") } else { tool.parameters = schema }
                case "type":
                    if let text = string(field, path) {
                        if let kind = ToolKind(rawValue: text), kind == .function || kind == .custom { tool.kind = kind } else {
                            problem(path, field, "expected 'function' or 'custom' (shells and patches are the shell: and apply_patch: sections), not '\(text)'")
                        }
                    }
                case "format":
                    var budget = Reader.maximumSchemaNodes
                    guard let format = Reader.json(field, budget: &budget), format.objectValue != nil else {
                        problem(path, field, "expected a mapping such as {type: text} or {type: grammar, syntax: lark, definition: …}")
                        continue
                    }
                    tool.format = format
                default: break
                }
            }
            if !sawCommand { problem(base, value, "missing 'command'") }
            if tool.kind == .custom && tool.parameters != nil {
                problem("\(base).parameters", value, "a custom tool takes free-form input: give 'format', not 'parameters'")
            }
            if tool.kind == .function && tool.format != nil {
                problem("\(base).format", value, "only a custom tool (type: custom) takes a 'format'")
            }
            config.tools.append(tool)
        }
    }

    /// A list of strings (`nil`, with the problem, for anything else).
    mutating func strings(_ node: Node, _ path: String, what: String) -> [String]? {
        guard case .sequence(let sequence) = node else {
            problem(path, node, "expected a list of \(what)")
            return nil
        }
        let parts = sequence.compactMap { string($0, path) }
        return parts.count == sequence.count ? parts : nil
    }

    /// An argv run without a shell: a non-empty list whose program (resolved against the file's folder) exists and
    /// is executable.
    mutating func command(_ node: Node, _ path: String) -> [String]? {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            problem(path, node, "expected a non-empty list: the program and its arguments (no shell)")
            return nil
        }
        guard let parts = strings(node, path, what: "strings") else { return nil }
        let argv = [resolve(parts[0])] + parts.dropFirst()
        checkExecutable(argv[0], path, node)
        return argv
    }

    mutating func checkExecutable(_ path: String, _ keyPath: String, _ node: Node) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            problem(keyPath, node, "handler \(path) does not exist")
            return
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH) == 0 {
            problem(keyPath, node, "handler \(path) has no execute bit (chmod +x)")
        } else if access(path, X_OK) != 0 {
            problem(keyPath, node, "handler \(path) is not executable by this user")
        }
        // Anyone who can write the handler (or replace it in its folder) runs code as the daemon.
        if stat(path, &info) == 0, info.st_mode & S_IWOTH != 0 {
            warnings.append("\(keyPath): handler \(path) is writable by every user: anyone can change what it runs (chmod o-w)")
        }
        let folder = URL(fileURLWithPath: path).resolvingSymlinksInPath().deletingLastPathComponent().path
        if stat(folder, &info) == 0, info.st_mode & S_IWOTH != 0, info.st_mode & S_ISVTX == 0 {
            warnings.append("\(keyPath): handler \(path) is in \(folder), which every user can write: anyone can replace it")
        }
    }

    /// The most nodes a `parameters` schema may have once YAML aliases are expanded: an alias bomb ("billion
    /// laughs") is refused here instead of filling memory.
    static let maximumSchemaNodes = 100_000

    /// YAML → JSON (for `parameters`): scalars by their resolved type; `nil` once more than `budget` nodes.
    static func json(_ node: Node, budget: inout Int) -> JSONValue? {
        budget -= 1
        guard budget >= 0 else { return nil }
        switch node {
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard let converted = json(value, budget: &budget) else { return nil }
                object[key.string ?? ""] = converted
            }
            return .object(object)
        case .sequence(let sequence):
            var array: [JSONValue] = []
            for element in sequence {
                guard let converted = json(element, budget: &budget) else { return nil }
                array.append(converted)
            }
            return .array(array)
        case .scalar(let scalar):
            if scalar.style == .plain {
                if node.null != nil { return .null }
                if let b = node.bool { return .bool(b) }
                if let i = node.int { return .int(Int64(i)) }
                if let d = node.float { return .double(d) }
            }
            return .string(scalar.string)
        case .alias:
            return .null
        }
    }
}
