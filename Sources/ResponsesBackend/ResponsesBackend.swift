import OpenAIClient
import BackendSupport
import ResponsesAPI
import ResponsesProtocol
import WireFormat
import WorkModel
import Worker

/// The Responses API behind the worker's seam: a tool loop is a chain of responses. Each round's outputs go back
/// as `function_call_output` items in a new streamed response with `previous_response_id`; the loop's id is the
/// latest response's. Responses start in background mode (`background: true`, `store: true`) so a dropped stream
/// is resumed by `sequence_number`; a server that refuses background mode gets foreground requests, and a drop is
/// then followed by retrieving the response.
public struct ResponsesBackend: HTTPClientBackend {
    public let client: ResponsesClient
    /// `api.state`: where conversations live, when a request says nothing.
    public let defaultState: ConversationState
    /// `request_options:` of the configuration, under each request's own.
    public let defaultRequestOptions: JSONObject
    /// `model:` and `instructions:` of the configuration, when a request names none.
    public let defaultModel: String?
    public let defaultInstructions: String?

    public init(
        client: ResponsesClient, defaultModel: String?, defaultInstructions: String?, defaultState: ConversationState = .server,
        defaultRequestOptions: JSONObject = [:]
    ) {
        self.client = client
        self.defaultState = defaultState
        self.defaultRequestOptions = defaultRequestOptions
        self.defaultModel = defaultModel
        self.defaultInstructions = defaultInstructions
    }

    /// A loop is a chain of responses, optionally in a conversation; every request names its model.
    public static let descriptor = ProtocolDescriptor(
        name: "responses", displayName: "Responses", containerName: "conversation", preparesContainer: false, needsModel: true,
        rebuild: { rebuild($0) }
    ) { request in
        if request.model == nil { return "protocol responses needs --model (or model: in the configuration)" }
        if !request.assistantID.isEmpty { return "--assistant is for the Assistants protocol" }
        if request.message == nil && request.threadID == nil {
            return "protocol responses needs --message (or an existing --conversation to continue)"
        }
        if request.threadID != nil && request.conversationState == .stateless {
            return "a conversation lives on the server: --conversation cannot go with --state stateless"
        }
        return nil
    }
    public var descriptor: ProtocolDescriptor { Self.descriptor }
    /// A submit is a new response: a 400 for it is final.
    public var submitRefusalIsFinal: Bool { true }
    public var clientConfiguration: OpenAIClientConfiguration { client.configuration }

    /// A session offering `tools` (as flat function tools) with every request.
    public func makeSession(policy: SnapshotPolicy, tools: [ToolDefinition]) -> any ToolLoopSession {
        ResponsesSession(backend: self, policy: policy, tools: tools.map(Self.tool))
    }

    /// A registered tool as the Responses API wants it: a flat function tool, or a custom (free-form) tool.
    public static func tool(_ definition: ToolDefinition) -> JSONValue {
        switch definition.kind {
        case .function:
            return functionTool(name: definition.name, description: definition.description, parameters: definition.parameters)
        case .custom:
            var tool: JSONObject = ["type": "custom", "name": .string(definition.name)]
            if let description = definition.description { tool["description"] = .string(description) }
            if let format = definition.format { tool["format"] = format }
            return .object(tool)
        case .shell, .localShell, .applyPatch:
            return ["type": .string(definition.kind.rawValue)]
        }
    }

    /// Cancels a background response (`toolworker cancel`); a response needs no container.
    public func cancel(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        do {
            return LoopState(response: try await client.cancel(id: id))
        } catch {
            throw LoopError(error)
        }
    }

    /// A response's state now.
    public func retrieve(id: String, threadID: String?) async throws(LoopError) -> LoopState {
        do {
            return LoopState(response: try await client.retrieve(id: id))
        } catch {
            throw LoopError(error)
        }
    }

    /// A registered tool as the Responses API wants it: flat, not nested under `function`.
    public static func functionTool(name: String, description: String?, parameters: JSONValue?) -> JSONValue {
        var tool: JSONObject = ["type": "function", "name": .string(name)]
        if let description { tool["description"] = .string(description) }
        tool["parameters"] = parameters ?? ["type": "object", "properties": [:]]
        tool["strict"] = false
        return .object(tool)
    }
}

extension LoopState {
    /// A response, as the worker sees it: `completed` with function calls is a round to answer.
    public init(response: JSONObject, calls: [ToolCall]? = nil) {
        let status = response["status"]?.stringValue
        let functionCalls = calls ?? (response["output"]?.arrayValue ?? []).compactMap { $0.objectValue.flatMap { ResponseAccumulator.call($0) } }
        let phase: LoopPhase
        switch status {
        case "completed": phase = functionCalls.isEmpty ? .ended(.completed) : .needsOutputs(functionCalls)
        case "incomplete": phase = .ended(.incomplete)
        case "failed": phase = .ended(.failed)
        case "cancelled": phase = .ended(.cancelled)
        default: phase = .working
        }
        let error = response["error"].flatMap { $0.isNull ? nil : $0 }
        let incomplete = response["incomplete_details"].flatMap { $0.isNull ? nil : $0 }
        var detail: String?
        if let error {
            detail = [error["code"]?.stringValue, error["message"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
        } else if let incomplete {
            detail = "incomplete: \(incomplete["reason"]?.stringValue ?? incomplete.serialized())"
        }
        var isEnded = false
        if case .ended = phase { isEnded = true }
        let id = response["id"]?.stringValue
        self.init(
            id: id, threadID: nil, phase: phase, expiresAt: nil, errorCode: error?["code"]?.stringValue, detail: detail,
            record: RunStateRecord(
                runID: id, threadID: nil, status: status, isTerminal: isEnded, snapshot: .object(response), lastError: error,
                incompleteDetails: incomplete, usage: response["usage"].flatMap { $0.isNull ? nil : $0 }, expiresAt: nil),
            model: response["model"]?.stringValue,
            usage: isEnded || !functionCalls.isEmpty ? RequestUsage(response: response) : nil)
    }
}

extension RequestUsage {
    /// The usage of a finished response (one model request), with the tools its output called: `nil` when the server
    /// counted nothing.
    public init?(response: JSONObject) {
        guard let id = response["id"]?.stringValue, let tokens = TokenUsage(json: response["usage"]) else { return nil }
        var tools: [String] = []
        for item in response["output"]?.arrayValue ?? [] {
            guard let type = item["type"]?.stringValue, type.hasSuffix("_call") else { continue }
            let name = type == "function_call" || type == "custom_tool_call" || type == "mcp_call"
                ? item["name"]?.stringValue : String(type.dropLast("_call".count))
            if let name, !tools.contains(name) { tools.append(name) }
        }
        self.init(source: id, model: response["model"]?.stringValue, tokens: tokens, tools: tools)
    }
}
