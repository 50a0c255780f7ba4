import Foundation
import MCPTools
import ToolRunner
import Yams

extension Reader {
    /// `mcp_servers: {NAME: {command: [PROGRAM, ARG…] | url: URL, …}}`: see the README's "MCP servers".
    mutating func readMCPServers(_ node: Node, _ config: inout ToolWorkerConfig) {
        let keys = [
            "command", "args", "env", "working_directory", "url", "headers", "header_files", "allowed_tools", "timeout", "max_output_bytes",
            "on_restart", "approval", "limits",
        ]
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
            var server = MCPServerConfig(name: name, transport: .stdio(command: [], environment: [:], workingDirectory: nil))
            for (key, field) in mapping(value, base, allowed: keys) ?? [] {
                let path = "\(base).\(key)"
                switch key {
                case "command": command = self.command(field, path)
                case "args": arguments = strings(field, path, what: "arguments") ?? arguments
                case "env": environment = self.environment(field, path)
                case "working_directory": workingDirectory = directory(field, path)
                case "url":
                    guard let text = string(field, path) else { continue }
                    if let reason = BaseURL.problem(text) { problem(path, field, reason) } else { url = text }
                case "headers": headers.merge(self.environment(field, path)) { $1 }
                case "header_files":
                    for (header, fileNode) in mapping(field, path, allowed: []) ?? [] {
                        guard let file = string(fileNode, "\(path).\(header)") else { continue }
                        let resolved = resolve(file)
                        guard let text = try? String(contentsOfFile: resolved, encoding: .utf8),
                            let line = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }), !line.isEmpty
                        else {
                            problem("\(path).\(header)", fileNode, "cannot read a value from \(resolved)")
                            continue
                        }
                        headers[header] = line
                        secrets.append(line)
                        // `Bearer TOKEN`: the token alone is a secret too.
                        if let space = line.lastIndex(of: " ") { secrets.append(String(line[line.index(after: space)...])) }
                    }
                case "allowed_tools": server.allowedTools = strings(field, path, what: "the server's tool names") ?? server.allowedTools
                case "timeout": server.timeout = duration(field, path) ?? server.timeout
                case "max_output_bytes":
                    server.maxOutputBytes = integer(field, path, min: 16, max: ToolHandlerConfig.maximumOutputBytes) ?? server.maxOutputBytes
                case "on_restart": server.onRestart = restartPolicy(field, path) ?? server.onRestart
                case "approval": server.approval = approvalRule(field, path) ?? server.approval
                case "limits": server.limits = limits(field, path)
                default: break
                }
            }
            if let time = server.limits.time { server.timeout = time }
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
            case (nil, nil): problem(base, value, "give 'command' (a server ToolWorker starts, over stdio) or 'url' (Streamable HTTP)")
            case (.some, .some): problem(base, value, "give 'command' or 'url', not both")
            }
            if !headers.isEmpty, command != nil { problem("\(base).headers", value, "headers are for a server at a url") }
            config.mcpServers.append(server)
        }
    }
}
