import Foundation
import MCPTools
import ToolRunner
import Yams

extension Reader {
    /// `mcp_servers: {NAME: {command: [PROGRAM, ARG…] | url: URL, …}}`: see the README's "MCP servers".
    mutating func readMCPServers(_ node: Node, _ config: inout ToolWorkerConfig) {
        let keys = ["command", "args", "env", "working_directory", "url", "headers", "header_files", "allowed_tools", "type", "startup_timeout"]
        for (name, value) in mapping(node, "mcp_servers", allowed: []) ?? [] {
            let base = "mcp_servers.\(name)"
            guard name.range(of: "^[A-Za-z0-9_-]{1,48}$", options: .regularExpression) != nil, !name.contains("__") else {
                problem(base, value, "a server name is 1 to 48 letters, digits, '_' or '-' (no '__': it separates server and tool)")
                continue
            }
            var command: [String]?
            var arguments: [String] = []
            var environment: [String: String] = [:]
            var workingDirectory: String?
            var url: String?
            var headers: [String: String] = [:]
            var secrets: [String] = []
            var secretFiles: [String] = []
            var declaredType: String?
            var server = MCPServerConfig(name: name, transport: .stdio(command: [], environment: [:], workingDirectory: nil))
            let entries = mapping(value, base, allowed: keys + Self.policyKeyNames(server.policy.keys)) ?? []
            for (key, field) in readPolicy(entries, base, into: &server.policy) {
                let path = "\(base).\(key)"
                switch key {
                case "command":
                    // `command: [PROGRAM, ARG…]`, or `command: PROGRAM` with `args:` (as MCP clients' configurations
                    // write it); a bare program name is looked up on PATH.
                    if case .scalar(let scalar) = field {
                        command = program(scalar.string, path, field).map { [$0] }
                    } else {
                        command = self.command(field, path)
                    }
                case "type":
                    guard let text = string(field, path) else { continue }
                    if ["stdio", "http", "streamable-http", "streamable_http", "streamableHttp"].contains(text) { declaredType = text } else {
                        problem(path, field, "expected stdio or http (Streamable HTTP), not '\(text)' (the older HTTP+SSE transport is not supported)")
                    }
                case "args": arguments = strings(field, path, what: "arguments") ?? arguments
                case "env": environment = self.environment(field, path)
                case "working_directory": workingDirectory = directory(field, path)
                case "url":
                    guard let text = string(field, path) else { continue }
                    if let reason = BaseURL.problem(text) { problem(path, field, reason) } else { url = text }
                case "headers":
                    // `NAME: value`, or `NAME: {file: PATH}` for a secret kept in a file (as header_files).
                    for (header, valueNode) in mapping(field, path, allowed: []) ?? [] {
                        if case .mapping = valueNode {
                            for (k, fileNode) in mapping(valueNode, "\(path).\(header)", allowed: ["file"]) ?? [] where k == "file" {
                                if let value = headerFromFile(fileNode, "\(path).\(header).file") {
                                    headers[header] = value
                                    secretFiles += string(fileNode, path).map { [resolve($0)] } ?? []
                                    secrets += Self.secretParts(value)
                                }
                            }
                        } else if let text = string(valueNode, "\(path).\(header)") {
                            headers[header] = text
                        }
                    }
                case "header_files":
                    for (header, fileNode) in mapping(field, path, allowed: []) ?? [] {
                        guard let value = headerFromFile(fileNode, "\(path).\(header)") else { continue }
                        headers[header] = value
                        secretFiles += string(fileNode, path).map { [resolve($0)] } ?? []
                        secrets += Self.secretParts(value)
                    }
                case "allowed_tools": server.allowedTools = strings(field, path, what: "the server's tool names") ?? server.allowedTools
                case "startup_timeout": server.startupTimeout = duration(field, path) ?? server.startupTimeout
                default: break
                }
            }
            if let declaredType {
                if declaredType == "stdio" && url != nil { problem("\(base).type", value, "type: stdio takes a command, not a url") }
                if declaredType != "stdio" && command != nil { problem("\(base).type", value, "type: \(declaredType) takes a url, not a command") }
            }
            switch (command, url) {
            case (let command?, nil):
                server.transport = .stdio(command: command + arguments, environment: environment, workingDirectory: workingDirectory)
            case (nil, let url?):
                if !arguments.isEmpty || !environment.isEmpty || workingDirectory != nil {
                    problem(base, value, "args, env and working_directory are for a server ToolWorker starts (command:), not one at a url")
                }
                if server.limits.needsControlGroup || server.limits.needsNamespaces {
                    problem("\(base).limits", value, "a server at a url runs elsewhere: only limits.time applies to it")
                }
                server.transport = .http(url: url, headers: headers)
                server.secrets = secrets
                server.secretFiles = secretFiles
            case (nil, nil): problem(base, value, "give 'command' (a server ToolWorker starts, over stdio) or 'url' (Streamable HTTP)")
            case (.some, .some): problem(base, value, "give 'command' or 'url', not both")
            }
            if !headers.isEmpty, command != nil { problem("\(base).headers", value, "headers are for a server at a url") }
            config.mcpServers.append(server)
        }
    }

    /// A header's value from a file's first line (trimmed); `nil`, with the problem, when there is none.
    mutating func headerFromFile(_ node: Node, _ path: String) -> String? {
        guard let file = string(node, path) else { return nil }
        let resolved = resolve(file)
        guard let text = try? String(contentsOfFile: resolved, encoding: .utf8),
            let line = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }), !line.isEmpty
        else {
            problem(path, node, "cannot read a value from \(resolved)")
            return nil
        }
        return line
    }

    /// A secret header value and, for `Bearer TOKEN`, the token alone: neither may reach the journal.
    static func secretParts(_ value: String) -> [String] {
        guard let space = value.lastIndex(of: " ") else { return [value] }
        return [value, String(value[value.index(after: space)...])]
    }

    /// A program: a path (relative ones resolved against the file's folder), or a bare name found on PATH.
    mutating func program(_ name: String, _ path: String, _ node: Node) -> String? {
        guard !name.isEmpty else {
            problem(path, node, "an empty program name")
            return nil
        }
        if name.contains("/") {
            checkExecutable(resolve(name), path, node)
            return resolve(name)
        }
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        guard let found = searchPath.split(separator: ":").map({ "\($0)/\(name)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            problem(path, node, "no program '\(name)' on PATH (\(searchPath)); give its full path")
            return nil
        }
        return found
    }
}
