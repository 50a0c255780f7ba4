import Operations
import OpenAIClient
import ToolRunner
import MCPTools
import WorkModel
import WireFormat
import Foundation

/// ToolWorker's configuration (the YAML file; see the README for every key).
public struct ToolWorkerConfig: Sendable {
    public struct API: Sendable, Equatable {
        /// `api.base_url`; `nil` means `$OPENAI_BASE_URL`, then the public default.
        public var baseURL: String?
        public var apiKeyEnv = "OPENAI_API_KEY"
        public var apiKeyFile: String?
        public var organization: String?
        public var project: String?
        public var connectTimeout: Duration = .seconds(10)
        public var idleTimeout: Duration = .seconds(90)
        public var maxRetries = 2
        /// `api.protocol`: `assistants` (the default) or `responses`.
        public var protocolName = "assistants"
        /// `api.state`: Responses conversations kept by the server (`previous_response_id`), or `stateless` (every
        /// request carries the whole input, `store: false`, for servers that keep nothing).
        public var state = ConversationState.server
    }

    public struct Concurrency: Sendable, Equatable {
        public var runs = 64
        public var toolCalls = 16
    }

    public struct Jobs: Sendable, Equatable {
        /// Attempts per job when a run fails with a retryable error.
        public var maxAttempts = 3
        public var retryBackoff: Duration = .seconds(5)
    }

    public struct MetricsExport: Sendable, Equatable {
        /// `metrics.listen`: serve `GET /metrics` here (`127.0.0.1:9464`).
        public var listen: (host: String, port: Int)?
        /// `metrics.textfile`: write the same text here every few seconds (node_exporter's textfile collector).
        public var textfile: String?

        public static func == (lhs: MetricsExport, rhs: MetricsExport) -> Bool {
            lhs.listen?.host == rhs.listen?.host && lhs.listen?.port == rhs.listen?.port && lhs.textfile == rhs.textfile
        }
    }

    /// When a SQLite journal's commits are on disk.
    public enum Durability: String, Sendable, Equatable, CaseIterable {
        /// Every commit `fsync`ed before the daemon acts on it: survives a crash of the machine.
        case full
        /// Commits reach the operating system, not the disk (no `fsync` each): survives the daemon's crash, not a
        /// power loss, which may take the last commits back.
        case normal
    }

    /// The file it was read from.
    public var file: String
    public var api = API()
    /// A SQLite file path, or a PostgreSQL URL (`postgres://user@host:5432/db?sslmode=require`).
    public var database = "/var/lib/toolworker/toolworker.db"
    /// `database_password_file:`: the PostgreSQL password (first line); else libpq's `PGPASSFILE` or `~/.pgpass`.
    public var databasePasswordFile: String?
    /// `database_durability:` (SQLite): when a commit is on disk.
    public var databaseDurability = Durability.full
    public var fleet = Fleet()
    public var snapshots = SnapshotPolicy.lifecycle
    public var concurrency = Concurrency()
    public var jobs = Jobs()
    /// `model:`: the model of Responses requests (required with `api.protocol: responses`).
    public var model: String?
    /// `prices:`: per model, per million tokens; each request's cost is computed and stored with its usage.
    public var prices = PriceTable()
    /// `rate_limits:`.
    public var rateLimits = RateLimits()
    /// `budgets.per_thread`: what all the runs on one Assistants thread or Responses conversation may spend together.
    public var threadBudget: Budget?
    /// `budgets.daily`: what each provider (without its own `daily_budget`) may take in one UTC day.
    public var dailyBudget: Budget?
    /// `providers:`, in file order; empty when the `api:` section is the one provider (see ``effectiveProviders``).
    public var providers: [Provider] = []
    /// `fallback:`: the providers a loop that cannot start on its own tries next, in order.
    public var fallback: [String] = []
    /// `console:`: the operator console, off when `nil`.
    public var console: ConsoleConfig?

    /// `console: {listen, token_file, path_prefix}`.
    public struct ConsoleConfig: Sendable, Equatable {
        /// Where the daemon's HTTP listener is, when `metrics.listen` does not say (`127.0.0.1:9464`).
        public var listen: (host: String, port: Int)?
        /// Who may sign in: lines `NAME:TOKEN` (or a bare token, signing in as `operator`).
        public var tokenFile: String
        /// The path the console is served under, behind a reverse proxy (`/toolworker`; empty at the root).
        public var pathPrefix = ""

        public init(tokenFile: String) { self.tokenFile = tokenFile }

        public static func == (lhs: ConsoleConfig, rhs: ConsoleConfig) -> Bool {
            lhs.listen?.host == rhs.listen?.host && lhs.listen?.port == rhs.listen?.port && lhs.tokenFile == rhs.tokenFile && lhs.pathPrefix == rhs.pathPrefix
        }

        /// The sign-in tokens of `tokenFile`, with their identities.
        /// - Throws: a description of what is wrong with the file.
        public func tokens() throws(ConfigError) -> [(identity: String, token: String)] {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ConfigError(file: tokenFile, problems: [ConfigProblem(path: "console.token_file", line: nil, message: "cannot read \(tokenFile)")])
            }
            var tokens: [(identity: String, token: String)] = []
            for line in text.split(whereSeparator: \.isNewline) {
                let entry = line.trimmingCharacters(in: .whitespaces)
                guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
                if let colon = entry.firstIndex(of: ":"), entry[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || "._-@".contains($0) }), !entry[..<colon].isEmpty {
                    tokens.append((String(entry[..<colon]), String(entry[entry.index(after: colon)...])))
                } else {
                    tokens.append(("operator", entry))
                }
            }
            guard !tokens.isEmpty, tokens.allSatisfy({ $0.token.count >= 16 }) else {
                throw ConfigError(file: tokenFile, problems: [ConfigProblem(
                    path: "console.token_file", line: nil, message: "needs at least one token of 16 characters or more (lines NAME:TOKEN or TOKEN)")])
            }
            return tokens
        }
    }

    /// The address of the daemon's HTTP listener (`/metrics`, the console), if it has one.
    public var listenAddress: (host: String, port: Int)? {
        metrics.listen ?? console.map { $0.listen ?? ("127.0.0.1", 9464) }
    }

    /// The providers jobs can name, the first being the default: `providers:`, or `default` from the `api:` section.
    public var effectiveProviders: [Provider] {
        guard providers.isEmpty else { return providers }
        var provider = Provider(
            name: "default", baseURL: api.baseURL, protocolName: api.protocolName, state: api.state,
            keys: [api.apiKeyFile.map(Provider.KeySource.file) ?? .environment(api.apiKeyEnv)])
        provider.organization = api.organization
        provider.project = api.project
        return [provider]
    }

    /// The provider called `name` (`nil`: the default one).
    public func provider(named name: String?) -> Provider? {
        guard let name else { return effectiveProviders.first }
        return effectiveProviders.first { $0.name == name }
    }

    /// A provider's day budget: its own `daily_budget`, else `budgets.daily`.
    public func dailyBudget(of provider: Provider) -> Budget? { provider.dailyBudget ?? dailyBudget }

    /// How `serve` keeps to the server's rate limits.
    public struct RateLimits: Sendable, Equatable {
        /// `rate_limits.park_after`: a job whose start would wait longer for its key's rate limit is parked
        /// (`waiting_rate_limit`) until then, its attempt not counted.
        public var parkAfter: Duration = .seconds(30)
        /// `rate_limits.models.MODEL.requests_per_minute`: the bucket a model starts with, before the server's
        /// `x-ratelimit-*` headers correct it.
        public var requestsPerMinute: [String: Int64] = [:]
    }
    /// `instructions:`: sent with every Responses request (they are not carried over by `previous_response_id`).
    public var instructions: String?
    public var metrics = MetricsExport()
    /// `log.format`.
    public var logFormat = LogFormat.text
    /// How long running handlers may take to finish after SIGTERM.
    public var shutdownGrace: Duration = .seconds(30)
    /// `request_options:`: set on every Responses request (``RequestOptions/allowed`` keys only).
    public var requestOptions: JSONObject = [:]
    /// `max_rounds:`: tool rounds a loop may take before it ends with `max_rounds` (a model that never stops calling
    /// tools); `--max-rounds` overrides it per run or job.
    public var maxRounds = 100
    /// `max_calls_per_round:`: more calls than this in one round end the loop (`too_many_calls`).
    public var maxCallsPerRound = 128
    /// `max_argument_bytes:`: the arguments of one round's calls together may not exceed this (`arguments_too_large`).
    public var maxArgumentBytes = 4 * 1024 * 1024
    /// What the configuration allows but an operator should fix (a world-writable handler), in words.
    public var warnings: [String] = []
    /// `approval_notify:`: a program told (JSON on stdin) of each new request for approval.
    public var approvalNotify: [String]?
    /// `mcp_servers:`: MCP servers whose tools are offered as `SERVER__TOOL` (listed at start and on reload).
    public var mcpServers: [MCPServerConfig] = []
    /// What this host enforces of `limits:` (found when the configuration has any).
    public var sandboxHost: SandboxHost?
    /// Registered tools in file order.
    public var tools: [ToolHandlerConfig] = []
    /// `shell:`: the shell lent to the model (Responses `shell` / `local_shell` calls); `nil`, the default, refuses them.
    public var shell: ShellToolConfig?
    /// `apply_patch:`: the workspace the model may edit (Responses `apply_patch` calls); `nil`, the default, refuses them.
    public var applyPatch: ApplyPatchConfig?

    /// Every tool of the configuration behind the one seam: the handlers, then the shell and the workspace when
    /// there are.
    public var registry: ToolRegistry {
        var executors: [any ToolExecutor] = tools.map { ShellToolExecutor($0, sandboxHost: sandboxHost) }
        if let shell { executors.append(ShellCommandExecutor(shell, sandboxHost: sandboxHost)) }
        if let applyPatch { executors.append(PatchExecutor(applyPatch)) }
        return ToolRegistry(executors: executors)
    }

    public init(file: String) { self.file = file }

    /// What no sandboxed call may see: the journal (SQLite), the files secrets come from, and this file itself.
    public var protectedPaths: [String] {
        var paths = [file]
        if !usesPostgres { paths.append(database) }
        paths += [databasePasswordFile, api.apiKeyFile].compactMap { $0 }
        paths += providers.flatMap(\.keyFiles)
        if let console { paths.append(console.tokenFile) }
        paths += mcpServers.flatMap(\.secretFiles)
        return paths.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
    }

    /// `fleet:`: how daemons sharing a PostgreSQL journal hold their runs.
    public struct Fleet: Sendable, Equatable {
        /// How often a daemon renews the leases on the runs it drives (and looks for expired ones to take over).
        public var heartbeat: Duration = .seconds(5)
        /// How long a lease lasts without renewal: after it, another daemon takes the run over.
        public var leaseExpiry: Duration = .seconds(30)
        public init() {}
    }

    /// Whether `database` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgresURL(_ database: String) -> Bool {
        let lower = database.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Whether the journal is a PostgreSQL database.
    public var usesPostgres: Bool { Self.isPostgresURL(database) }

    /// The default provider's client configuration: base URL and keys resolved from the files or the environment.
    /// - Throws: ``ConfigError`` when a key cannot be found.
    public func clientConfiguration(environment: [String: String]) throws -> OpenAIClientConfiguration {
        try clientConfiguration(provider: effectiveProviders[0], environment: environment)
    }

    /// `provider`'s client configuration: its base URL, headers and key pool, the `api:` section's timeouts and retries.
    /// - Throws: ``ConfigError`` naming the first key that cannot be read or is not a usable header value.
    public func clientConfiguration(provider: Provider, environment: [String: String]) throws -> OpenAIClientConfiguration {
        let single = providers.isEmpty
        var keys: [APIKeyPool.Key] = []
        for (index, source) in provider.keys.enumerated() {
            let path = single ? (api.apiKeyFile == nil ? "api.api_key_env" : "api.api_key_file") : "providers.\(provider.name).api_keys[\(index)]"
            let key: String
            switch source {
            case .file(let file):
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw ConfigError(file: self.file, problems: [ConfigProblem(path: path, line: nil, message: "cannot read \(file)")])
                }
                key = text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !key.isEmpty else { throw ConfigError(file: self.file, problems: [ConfigProblem(path: path, line: nil, message: "the key file is empty")]) }
            case .environment(let variable):
                key = environment[variable] ?? ""
                guard !key.isEmpty else {
                    throw ConfigError(file: file, problems: [ConfigProblem(path: path, line: nil, message: "the environment variable \(variable) is empty or unset")])
                }
            }
            // Printable ASCII only: a TAB, a space, a control character or anything not ASCII (invalid UTF-8 decodes to
            // U+FFFD) would corrupt the request headers or never match what a server echoes for redaction.
            guard key.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
                throw ConfigError(file: file, problems: [ConfigProblem(
                    path: path, line: nil,
                    message: "the API key contains spaces, tabs, control characters or bytes that are not printable ASCII: refused, it would corrupt the request headers")])
            }
            keys.append(APIKeyPool.Key(label: "\(provider.name)/\(source.text)", secret: key))
        }
        let base = provider.baseURL ?? environment["OPENAI_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? OpenAIClientConfiguration.defaultBaseURL
        if provider.baseURL == nil, let reason = BaseURL.problem(base) {
            throw ConfigError(file: file, problems: [ConfigProblem(path: "OPENAI_BASE_URL", line: nil, message: reason)])
        }
        var configuration = OpenAIClientConfiguration(
            baseURL: base, keys: APIKeyPool(provider: provider.name, keys: keys, disableFor: provider.keyDisableFor),
            organization: provider.organization, project: provider.project)
        configuration.headers = provider.headers.map { ($0.name, $0.value) }
        configuration.http.connectTimeout = api.connectTimeout
        configuration.http.idleTimeout = api.idleTimeout
        configuration.retry.maxRetries = api.maxRetries
        return configuration
    }

    /// Every key variable of every provider (kept by the process, wiped from its environment so no handler inherits it).
    public var keyVariables: [String] { effectiveProviders.flatMap(\.keyVariables) }
}
