import Foundation
import MCP
import ToolRunner
import WireFormat
import WorkModel

/// One tool of an MCP server behind the tool seam: offered as `SERVER__TOOL` with the server's description and
/// input schema; a call is the server's `tools/call`, its content (text, and a note for what is not text) the
/// output, `isError` a failed call.
public struct MCPToolExecutor: ToolExecutor {
    public let server: MCPServerConnection
    public let configuration: MCPServerConfig
    /// The tool's name on its server.
    public let toolName: String
    public let definition: ToolDefinition

    init(server: MCPServerConnection, configuration: MCPServerConfig, tool: Tool) {
        self.server = server
        self.configuration = configuration
        toolName = tool.name
        let schema = (try? JSONEncoder().encode(tool.inputSchema)).flatMap { try? JSONValue(parsing: String(decoding: $0, as: UTF8.self)) }
        definition = ToolDefinition(
            name: configuration.qualifiedName(tool.name), description: tool.description ?? tool.title,
            parameters: schema?.objectValue == nil ? nil : schema, kind: .function, format: nil)
    }

    public var policy: ToolPolicy { configuration.policy }

    public var handlerDescription: String { "mcp \(configuration.name): \(toolName)" }

    public var listingDetails: JSONObject { ["mcp_server": .string(configuration.name), "mcp_tool": .string(toolName)] }

    public func execute(_ call: ToolCall, arguments: String, execution: ToolExecution) async throws(CancellationError) -> ToolCallOutcome {
        let started = unixMilliseconds()
        let parsed: [String: Value]
        do { parsed = try JSONDecoder().decode([String: Value].self, from: Data(arguments.utf8)) } catch {
            return .failure(.failed, .invalidArguments, "The arguments are not a JSON object.", startedAt: started, finishedAt: unixMilliseconds())
        }
        let timeout = configuration.policy.callTimeout(execution)
        switch try await server.call(toolName, arguments: parsed, timeout: timeout, traceparent: execution.traceparent, notes: execution.spanNotes, live: execution.liveOutput) {
        case .timedOut:
            return .failure(
                .timedOut, .timeout, "The MCP server '\(configuration.name)' did not answer within \(timeout) and the call was cancelled.",
                startedAt: started, finishedAt: unixMilliseconds())
        case .failed(let reason):
            return .failure(.failed, .serverFailed, redacted("The call could not be completed: \(reason)."), startedAt: started, finishedAt: unixMilliseconds())
        case .answered(let content, let isError):
            var text = redacted(Self.text(of: content))
            var truncated = false
            if text.utf8.count > configuration.maxOutputBytes {
                text = String(decoding: text.utf8.prefix(configuration.maxOutputBytes), as: UTF8.self)
                text += ToolCallOutcome.truncationMark(at: configuration.maxOutputBytes)
                truncated = true
            }
            if isError {
                return .failure(.failed, .toolError, text.isEmpty ? "The tool reported an error." : text, startedAt: started, finishedAt: unixMilliseconds())
            }
            return ToolCallOutcome(state: .succeeded, output: text, outputTruncated: truncated, startedAt: started, finishedAt: unixMilliseconds())
        }
    }

    /// The content as text for the model: text items as they are, the rest named (a resource's text included).
    static func text(of content: [Tool.Content]) -> String {
        content.map { item -> String in
            switch item {
            case .text(let text, _, _): return text
            case .image(let data, let mimeType, _, _): return "[image \(mimeType), \(data.utf8.count) base64 bytes not shown]"
            case .audio(let data, let mimeType, _, _): return "[audio \(mimeType), \(data.utf8.count) base64 bytes not shown]"
            case .resource(let resource, _, _): return resource.text ?? "[resource \(resource.uri)]"
            case .resourceLink(let uri, let name, _, _, _, _): return "[resource link \(name): \(uri)]"
            }
        }.joined(separator: "\n")
    }

    /// The output with every secret of the server's configuration (header values from files) replaced.
    func redacted(_ text: String) -> String { configuration.redacted(text) }
}
