import Foundation
import RunLoopCore

extension FakeState {
    /// `POST /v1/conversations`, `POST /v1/conversations/{id}/items`, `GET /v1/conversations/{id}/items`: a
    /// conversation is the list of items its responses and callers added, in order.
    func routeConversations(_ request: ReceivedRequest, _ p: [String], _ inner: inout Inner) -> Reply {
        switch (request.method, p.count) {
        case ("POST", 1):
            let items = request.json?["items"]?.arrayValue ?? []
            guard items.count <= 20 else { return error(400, "You can add at most 20 items at a time.", param: "items") }
            let id = inner.newID("conv")
            inner.conversations[id] = items
            return .json(200, [
                "id": .string(id), "object": "conversation", "created_at": .int(now()), "metadata": request.json?["metadata"] ?? [:],
            ])
        case ("POST", 3) where p[2] == "items":
            guard inner.conversations[p[1]] != nil else { return error(404, "Conversation with id '\(p[1])' not found.", code: "not_found") }
            let items = request.json?["items"]?.arrayValue ?? []
            guard !items.isEmpty, items.count <= 20 else { return error(400, "Add 1 to 20 items at a time.", param: "items") }
            let stamped: [JSONValue] = items.map { item in
                guard case .object(var object) = item else { return item }
                if object["id"] == nil { object["id"] = .string(inner.newID("msg")) }
                return .object(object)
            }
            inner.conversations[p[1], default: []] += stamped
            return .json(200, ["object": "list", "data": .array(stamped)])
        case ("GET", 3) where p[2] == "items":
            guard let items = inner.conversations[p[1]] else { return error(404, "Conversation with id '\(p[1])' not found.", code: "not_found") }
            return .json(200, ["object": "list", "data": .array(items)])
        default:
            return error(404, "Invalid URL (\(request.method) \(request.path))")
        }
    }

    /// The conversation a create names (`"conv_…"` or `{"id": "conv_…"}`), if any.
    static func conversationID(_ body: JSONObject) -> String? {
        body["conversation"]?.stringValue ?? body["conversation"]?["id"]?.stringValue
    }

    /// An item that answers a call: `function_call_output` or `custom_tool_call_output`.
    static func isOutputItem(_ item: JSONValue) -> Bool {
        ["function_call_output", "custom_tool_call_output", "shell_call_output", "local_shell_call_output", "apply_patch_call_output"].contains(item["type"]?.stringValue ?? "")
    }

    /// The call an output item answers (`local_shell_call_output` names it `id`).
    static func answeredCallID(_ item: JSONValue) -> String? { item["call_id"]?.stringValue ?? item["id"]?.stringValue }

    /// An output item's output as text (a shell's is an array of chunks).
    static func outputText(_ item: JSONValue) -> String { item["output"].map { $0.stringValue ?? $0.serialized() } ?? "" }

    /// Among the responses, the latest whose every pending call the input answers (`function_call_output` items):
    /// what a request answers when no `previous_response_id` says it (a conversation, a stateless server).
    static func answeredResponse(_ items: [JSONValue], among responses: [String: FakeResponse]) -> FakeResponse? {
        let answered = Set(items.filter(isOutputItem).compactMap(answeredCallID))
        guard !answered.isEmpty else { return nil }
        return responses.values.filter { !$0.pendingCallIDs.isEmpty && Set($0.pendingCallIDs).isSubset(of: answered) }
            .max { $0.round < $1.round }
    }
}
