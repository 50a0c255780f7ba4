import ResponsesProtocol
import WireFormat
import WorkModel

/// The whole conversation of a tool loop on a server that keeps no state (`api.state: stateless`): every request
/// carries it again, since there is no `previous_response_id` to stand for it.
///
/// It is the opening input (the user's message), then, for each response that asked for calls, its output items
/// exactly as received (reasoning items with their `encrypted_content`, items ToolWorker does not execute, the calls
/// themselves) followed by a `function_call_output` for each of its calls. After a restart it is rebuilt from the
/// journal (``init(restoring:opening:)``): the responses' stored snapshots and the stored outputs.
struct StatelessTranscript: Sendable {
    /// What the loop opened with.
    var opening: [JSONValue] = []
    /// Each response that asked for calls, oldest first, with its output items.
    private(set) var responses: [(id: String, items: [JSONValue])] = []
    /// Answered outputs by call id.
    var outputs: [String: String] = [:]
    /// Responses known to have ended, by id (what a retrieve would have said).
    var finished: [String: JSONObject] = [:]

    init(opening: [JSONValue] = []) {
        self.opening = opening
    }

    /// The transcript as the journal holds it after a restart.
    init(restoring history: LoopHistory, opening: [JSONValue]) {
        self.opening = opening
        outputs = history.outputs
        for loop in history.loops {
            guard let object = loop.objectValue, noteEnded(object), let id = object["id"]?.stringValue else { continue }
            let items = object["output"]?.arrayValue ?? []
            if !Self.callIDs(items).isEmpty { record(response: id, items: items) }
        }
    }

    /// Whether a response has reached a status it keeps.
    static func hasEnded(_ response: JSONObject) -> Bool {
        ["completed", "failed", "incomplete", "cancelled"].contains(response["status"]?.stringValue ?? "")
    }

    /// Keeps `response` as one seen to end (what a retrieve would have said of it); `false` when it has not ended.
    @discardableResult
    mutating func noteEnded(_ response: JSONObject) -> Bool {
        guard Self.hasEnded(response), let id = response["id"]?.stringValue else { return false }
        finished[id] = response
        return true
    }

    /// Adds a response that asked for calls (once).
    mutating func record(response id: String, items: [JSONValue]) {
        guard !responses.contains(where: { $0.id == id }) else { return }
        responses.append((id, items))
    }

    /// The items of a recorded response.
    func items(of id: String) -> [JSONValue]? { responses.first { $0.id == id }?.items }

    /// The input that answers response `id` (or, `nil`, that opens the loop): the opening, then each recorded response
    /// up to and including `id` with the outputs of its calls.
    func input(through id: String?) -> [JSONValue] {
        var input = opening
        guard let id else { return input }
        for response in responses {
            input += response.items
            for (callID, kind) in Self.calls(response.items) {
                if let output = outputs[callID] {
                    input.append(ResponsesSession.outputItem(callID: callID, output: output, kind: kind))
                }
            }
            if response.id == id { break }
        }
        return input
    }

    /// The latest recorded response whose every call has its output (what the next request answers), if any.
    var lastAnswered: String? {
        var last: String?
        for response in responses {
            guard Self.callIDs(response.items).allSatisfy({ outputs[$0] != nil }) else { break }
            last = response.id
        }
        return last
    }

    /// The `call_id`s of the calls a tool answers among `items`, in order.
    static func callIDs(_ items: [JSONValue]) -> [String] { calls(items).map(\.id) }

    /// The calls a tool answers among `items` (function and custom tool calls), in order, with their kinds.
    static func calls(_ items: [JSONValue]) -> [(id: String, kind: ToolKind)] {
        items.compactMap { item in
            guard let object = item.objectValue, let kind = ResponseAccumulator.callKind(object), let id = object["call_id"]?.stringValue
            else { return nil }
            return (id, kind)
        }
    }
}
