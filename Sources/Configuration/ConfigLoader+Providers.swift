import OpenAIClient
import WorkModel
import Yams

extension Reader {
    static let providerKeys = [
        "base_url", "protocol", "state", "api_keys", "api_key_env", "api_key_file", "headers", "models", "organization", "project",
        "key_disable_for", "daily_budget",
    ]

    /// `providers: {NAME: {base_url, protocol, state, api_keys: [{env: VAR} | {file: PATH}], api_key_env, api_key_file,
    /// headers, models: {ALIAS: MODEL}, organization, project, key_disable_for, daily_budget}}`, in file order; the
    /// protocol and state default to the `api:` section's, the keys to its key.
    mutating func readProviders(_ node: Node, _ config: inout ToolWorkerConfig) {
        for (name, entry) in mapping(node, "providers", allowed: []) ?? [] {
            let path = "providers.\(name)"
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                problem(path, entry, "a provider's name takes letters, digits, _ and - only")
                continue
            }
            var provider = Provider(name: name, baseURL: nil, protocolName: "", state: config.api.state, keys: [])
            var protocolGiven: String?
            var stateGiven: ConversationState?
            for (key, value) in mapping(entry, path, allowed: Self.providerKeys) ?? [] {
                let keyPath = "\(path).\(key)"
                switch key {
                case "base_url":
                    if let url = string(value, keyPath) {
                        if let reason = BaseURL.problem(url) { problem(keyPath, value, reason) } else { provider.baseURL = url }
                    }
                case "protocol": protocolGiven = protocolName(value, keyPath)
                case "state": stateGiven = conversationState(value, keyPath)
                case "api_keys": provider.keys += keySources(value, keyPath)
                case "api_key_env": if let variable = string(value, keyPath) { provider.keys.append(.environment(variable)) }
                case "api_key_file": if let file = string(value, keyPath) { provider.keys.append(.file(resolve(file))) }
                case "headers":
                    for (header, text) in environment(value, keyPath).sorted(by: { $0.key < $1.key }) {
                        if !HeaderValue.isSafe(text) || !HeaderValue.isToken(header) {
                            problem("\(keyPath).\(header)", value, "not a valid HTTP header (name a token, value without control characters)")
                        } else if ["authorization", "content-type", "accept", "openai-beta"].contains(header.lowercased()) {
                            problem("\(keyPath).\(header)", value, "set by ToolWorker itself; it cannot be replaced here")
                        } else {
                            provider.headers.append(HeaderPair(name: header, value: text))
                        }
                    }
                case "models": provider.modelAliases = environment(value, keyPath)
                case "organization", "project":
                    guard let text = string(value, keyPath) else { continue }
                    guard HeaderValue.isSafe(text) else {
                        problem(keyPath, value, "control characters (CR, LF, NUL, …) are not allowed in an HTTP header value")
                        continue
                    }
                    if key == "organization" { provider.organization = text } else { provider.project = text }
                case "key_disable_for": provider.keyDisableFor = duration(value, keyPath) ?? provider.keyDisableFor
                case "daily_budget": provider.dailyBudget = dailyBudget(value, keyPath)
                default: break
                }
            }
            if provider.baseURL == nil { problem(path, entry, "needs base_url: where this provider's API is") }
            provider.protocolName = protocolGiven ?? ""
            if let stateGiven { provider.state = stateGiven }
            config.providers.append(provider)
        }
    }

    /// `assistants` or `responses` (`api.protocol`, `providers.NAME.protocol`).
    mutating func protocolName(_ node: Node, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        guard ["assistants", "responses"].contains(text) else {
            problem(path, node, "expected 'assistants' or 'responses', not '\(text)'")
            return nil
        }
        return text
    }

    /// `server` or `stateless` (`api.state`, `providers.NAME.state`).
    mutating func conversationState(_ node: Node, _ path: String) -> ConversationState? {
        guard let text = string(node, path) else { return nil }
        guard let state = ConversationState(rawValue: text) else {
            problem(path, node, "expected 'server' or 'stateless', not '\(text)'")
            return nil
        }
        return state
    }

    /// `- env: VARIABLE` or `- file: PATH` entries (a bare string is a variable's name).
    mutating func keySources(_ node: Node, _ path: String) -> [Provider.KeySource] {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            problem(path, node, "expected a non-empty list of keys: - env: VARIABLE or - file: PATH")
            return []
        }
        var sources: [Provider.KeySource] = []
        for (index, item) in sequence.enumerated() {
            let itemPath = "\(path)[\(index)]"
            if case .scalar(let scalar) = item {
                sources.append(.environment(scalar.string))
                continue
            }
            let pairs = mapping(item, itemPath, allowed: ["env", "file"]) ?? []
            guard pairs.count == 1, let text = string(pairs[0].1, "\(itemPath).\(pairs[0].0)"), !text.isEmpty else {
                if case .mapping = item { problem(itemPath, item, "give one of env: VARIABLE or file: PATH") }
                continue
            }
            sources.append(pairs[0].0 == "env" ? .environment(text) : .file(resolve(text)))
        }
        return sources
    }

    /// `{tokens: N, cost: X}`: a day's budget (only tokens and cost count by the day).
    mutating func dailyBudget(_ node: Node, _ path: String) -> Budget? {
        var parts: [String] = []
        for (field, setting) in mapping(node, path, allowed: ["tokens", "cost"]) ?? [] {
            guard let text = string(setting, "\(path).\(field)") else { continue }
            parts.append("\(field)=\(text)")
        }
        guard !parts.isEmpty else {
            problem(path, node, "give tokens, cost or both")
            return nil
        }
        do {
            return try Budget(parsing: parts.joined(separator: ","))
        } catch {
            problem(path, node, "\(error)")
            return nil
        }
    }

    /// After the whole file is read: every provider's protocol (the `api:` section's by default), the `fallback:`
    /// chain's names, and the protocol's `model:` requirement.
    mutating func checkProviders(_ config: inout ToolWorkerConfig) {
        for index in config.providers.indices where config.providers[index].protocolName.isEmpty {
            config.providers[index].protocolName = config.api.protocolName
        }
        for index in config.providers.indices where config.providers[index].keys.isEmpty {
            config.providers[index].keys = [config.api.apiKeyFile.map(Provider.KeySource.file) ?? .environment(config.api.apiKeyEnv)]
        }
        let names = Set(config.effectiveProviders.map(\.name))
        var seen: Set<String> = []
        for (index, name) in config.fallback.enumerated() {
            if !names.contains(name) {
                problem("fallback[\(index)]", nil, "no provider is called '\(name)' (providers: \(config.effectiveProviders.map(\.name).joined(separator: ", ")))")
            }
            if !seen.insert(name).inserted { problem("fallback[\(index)]", nil, "'\(name)' is in the chain twice") }
        }
        if let listen = config.console?.listen, let metrics = config.metrics.listen, listen.host != metrics.host || listen.port != metrics.port {
            problem("console.listen", nil, "the console is served by the listener of metrics.listen (\(metrics.host):\(metrics.port)): leave console.listen out, or make them equal")
        }
        if config.model == nil, let provider = config.providers.first(where: { $0.protocolName == "responses" }) {
            problem("model", nil, "required when a provider speaks responses (providers.\(provider.name)): the model every request names")
        }
    }
}

extension Reader {
    /// `console: {listen: HOST:PORT, token_file: PATH, path_prefix: /PREFIX}`; `token_file` is required, and the
    /// console is served by the listener of `metrics.listen` when that is set (`listen` may not name another).
    mutating func readConsole(_ node: Node, _ config: inout ToolWorkerConfig) {
        var tokenFile: String?
        var listen: (host: String, port: Int)?
        var prefix = ""
        for (key, value) in mapping(node, "console", allowed: ["listen", "token_file", "path_prefix"]) ?? [] {
            let path = "console.\(key)"
            guard let text = string(value, path) else { continue }
            switch key {
            case "listen":
                if let address = Reader.listenAddress(text) { listen = address } else {
                    problem(path, value, "expected HOST:PORT with an IP address, such as 127.0.0.1:9464")
                }
            case "token_file": tokenFile = resolve(text)
            case "path_prefix":
                if text.isEmpty || text == "/" {
                    prefix = ""
                } else if text.hasPrefix("/"), !text.hasSuffix("/"), text.allSatisfy({ $0.isLetter || $0.isNumber || "/-_.".contains($0) }) {
                    prefix = text
                } else {
                    problem(path, value, "expected a path such as /toolworker (starting with /, not ending with one; letters, digits, - _ .)")
                }
            default: break
            }
        }
        guard case .mapping = node else { return }
        guard let tokenFile else {
            problem("console", node, "needs token_file: the file of the tokens that may sign in")
            return
        }
        var console = ToolWorkerConfig.ConsoleConfig(tokenFile: tokenFile)
        console.listen = listen
        console.pathPrefix = prefix
        config.console = console
    }
}
