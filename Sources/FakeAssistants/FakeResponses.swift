import Foundation
import RunLoopCore

/// The fake server's record of one response: the object, its stream frames (kept for resumed streams), the chain
/// it continues, and the calls it asks for.
struct FakeResponse {
    var object: JSONObject
    let scenario: Scenario
    /// Which round of the scenario this response is (0 for the first).
    let round: Int
    var frames: [FakeState.Frame] = []
    var pendingCallIDs: [String] = []
    var pendingNames: [String: String] = [:]
    /// The outputs answered along the chain so far ("name: output" lines of the final answer).
    var outputs: [(name: String, output: String)] = []
    var background: Bool
    var polls = 0
    /// The final object, while a dropped background stream leaves the response "in progress" until a client
    /// streams the rest (a resume) or polls it.
    var pendingFinal: JSONObject?

    /// The conversation it belongs to, if any.
    var conversation: String?

    var id: String { object["id"]?.stringValue ?? "" }
}

extension FakeState {
    /// `POST /v1/responses`, `GET /v1/responses/{id}` (+ `stream=true&starting_after=N`), `POST …/cancel`.
    func routeResponses(_ request: ReceivedRequest, _ p: [String], _ inner: inout Inner) -> Reply {
        let kind: RequestKind
        switch (request.method, p.count) {
        case ("POST", 1): kind = request.json?["previous_response_id"]?.stringValue == nil ? .create : .submit
        case ("GET", 2): kind = .retrieve
        case ("POST", 3) where p[2] == "cancel": kind = .cancel
        default: return error(404, "Invalid URL (\(request.method) \(request.path))")
        }
        inner.counters[kind, default: 0] += 1
        let occurrence = inner.counters[kind]!
        let model = request.json?["model"]?.stringValue
        let previous = (request.json?["previous_response_id"]?.stringValue).flatMap { inner.responses[$0] }
        let scenario = model.flatMap { inner.scenarios[$0] } ?? previous?.scenario
            ?? (p.count >= 2 ? inner.responses[p[1]]?.scenario : nil)
        if scenario?.quirks.stateless == true, kind == .retrieve || kind == .cancel {
            return error(404, "Response '\(p.count > 1 ? p[1] : "?")' not found: this server does not store responses.", code: "not_found")
        }
        if scenario?.quirks.noRetrieve == true, kind == .retrieve || kind == .cancel {
            return error(500, "litellm.APIConnectionError: this operation is not supported for this provider", type: "server_error")
        }
        var fault = scenario?.faults.first { $0.kind == kind && $0.occurrence == occurrence }
        if fault == nil, let chaos = inner.chaos { fault = chaosFault(chaos, kind: kind, &inner) }
        if let early = earlyFault(fault, request, &inner, act: { inner in _ = self.serveResponses(kind, request, p, nil, &inner) }) {
            return early
        }
        return serveResponses(kind, request, p, fault, &inner)
    }

    private func serveResponses(_ kind: RequestKind, _ request: ReceivedRequest, _ p: [String], _ fault: Fault?, _ inner: inout Inner) -> Reply {
        switch kind {
        case .retrieve:
            guard var response = inner.responses[p[1]] else { return error(404, "Response with id '\(p[1])' not found.", code: "not_found") }
            if request.query["stream"] == "true" {
                guard response.background else {
                    return error(400, "This response cannot be streamed because it was not created with background=true.", param: "stream")
                }
                let after = request.query["starting_after"].flatMap(Int.init) ?? -1
                let frames = response.frames.enumerated().filter { $0.offset > after }.map(\.element)
                if let final = response.pendingFinal {
                    response.object = final
                    response.pendingFinal = nil
                    inner.responses[response.id] = response
                }
                return .stream(frames, fault, response.scenario.frameDelay)
            }
            response.polls += 1
            if let final = response.pendingFinal, response.polls >= 3 {
                response.object = final
                response.pendingFinal = nil
            }
            if case .hangs(let completesAfter?) = response.scenario.ending, response.polls >= completesAfter,
                response.object["status"]?.stringValue == "in_progress"
            {
                response.object["status"] = "completed"
            }
            inner.responses[response.id] = response
            return .json(200, .object(response.object))
        case .cancel:
            guard var response = inner.responses[p[1]] else { return error(404, "Response with id '\(p[1])' not found.", code: "not_found") }
            guard response.background else { return error(400, "Only background responses can be cancelled.") }
            if response.object["status"]?.stringValue == "in_progress" || response.object["status"]?.stringValue == "queued" {
                response.object["status"] = "cancelled"
            }
            inner.responses[response.id] = response
            return .json(200, .object(response.object))
        default:
            return createResponse(request, fault, &inner)
        }
    }

    private func createResponse(_ request: ReceivedRequest, _ fault: Fault?, _ inner: inout Inner) -> Reply {
        guard let body = request.json?.objectValue else { return error(400, "We could not parse the JSON body of your request.") }
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            return error(400, "Missing required parameter: 'model'.", code: "missing_required_parameter", param: "model")
        }
        for (index, tool) in (body["tools"]?.arrayValue ?? []).enumerated() where tool["function"] != nil || (tool["name"] == nil && !["shell", "local_shell", "apply_patch"].contains(tool["type"]?.stringValue ?? "")) {
            return error(400, "Missing required parameter: 'tools[\(index)].name'.", code: "missing_required_parameter", param: "tools[\(index)].name")
        }
        if body["background"]?.boolValue == true && body["store"]?.boolValue == false {
            return error(400, "Background mode requires store=true.", param: "background")
        }
        if body["background"]?.boolValue == true && inner.backgroundRefused {
            return error(400, "Background mode is not supported by this server.", param: "background")
        }
        let quirks = (body["model"]?.stringValue.flatMap { inner.scenarios[$0] }
            ?? (body["previous_response_id"]?.stringValue).flatMap { inner.responses[$0] }?.scenario)?.quirks ?? ResponsesQuirks()
        if quirks.stateless {
            if body["previous_response_id"] != nil {
                return error(400, "previous_response_id is not supported: this server does not store responses.", param: "previous_response_id")
            }
            if body["background"]?.boolValue == true {
                return error(400, "Background mode is not supported by this server.", param: "background")
            }
        }
        var statelessPrevious: FakeResponse?
        let conversation = Self.conversationID(body)
        if let conversation {
            guard inner.conversations[conversation] != nil else {
                return error(404, "Conversation with id '\(conversation)' not found.", code: "not_found", param: "conversation")
            }
            if body["previous_response_id"] != nil {
                return error(400, "Mutually exclusive parameters: 'previous_response_id' and 'conversation'.", param: "conversation")
            }
            // The conversation holds the calls: the outputs answer its latest response that asked for them.
            let items = body["input"]?.arrayValue ?? []
            if items.contains(where: Self.isOutputItem) {
                guard let previous = Self.answeredResponse(items, among: inner.responses.filter { $0.value.conversation == conversation }) else {
                    return error(400, "No tool call found for the function call outputs in this conversation.", param: "input")
                }
                statelessPrevious = previous
            }
        }
        if quirks.stateless {
            // The whole conversation is in the input: find the response it answers (every one of its calls echoed as a
            // function_call item and answered by a function_call_output).
            let items = body["input"]?.arrayValue ?? []
            let answered = Set(items.filter(Self.isOutputItem).compactMap(Self.answeredCallID))
            let echoed = Set(items.filter { $0.objectValue.flatMap(ResponseAccumulator.callKind) != nil }.compactMap { $0["call_id"]?.stringValue })
            if let unknown = answered.first(where: { !echoed.contains($0) }) {
                return error(400, "No tool call found for function call output with call_id \(unknown).", param: "input")
            }
            if !answered.isEmpty {
                guard let previous = Self.answeredResponse(items, among: inner.responses) else {
                    return error(400, "The input answers calls this server never asked for.", param: "input")
                }
                statelessPrevious = previous
            }
        }
        var outputs: [(name: String, output: String)] = []
        var round = 0
        var scenario: Scenario
        if let previousID = body["previous_response_id"]?.stringValue {
            guard let previous = inner.responses[previousID] else {
                return error(400, "Previous response with id '\(previousID)' not found.", code: "previous_response_not_found", param: "previous_response_id")
            }
            var given: [String] = []
            var byID: [String: String] = [:]
            for item in body["input"]?.arrayValue ?? [] where Self.isOutputItem(item) {
                guard let callID = Self.answeredCallID(item) else { continue }
                if byID[callID] != nil || !previous.pendingCallIDs.contains(callID) {
                    inner.refusedSubmits[previousID, default: 0] += 1
                    return error(400, "No tool call found for function call output with call_id \(callID).", param: "input")
                }
                given.append(callID)
                byID[callID] = Self.outputText(item)
            }
            if let missing = previous.pendingCallIDs.first(where: { byID[$0] == nil }) {
                inner.refusedSubmits[previousID, default: 0] += 1
                return error(400, "No tool output found for function call \(missing).", param: "input")
            }
            if inner.answeredResponses.contains(previousID) { inner.duplicateAnswers[previousID, default: 0] += 1 }
            inner.answeredResponses.insert(previousID)
            outputs = previous.outputs + previous.pendingCallIDs.map { (previous.pendingNames[$0] ?? "?", byID[$0] ?? "") }
            round = previous.round + 1
            scenario = previous.scenario
        } else if let previous = statelessPrevious {
            let items = body["input"]?.arrayValue ?? []
            var byID: [String: String] = [:]
            for item in items where Self.isOutputItem(item) {
                if let id = Self.answeredCallID(item) { byID[id] = Self.outputText(item) }
            }
            if inner.answeredResponses.contains(previous.id) { inner.duplicateAnswers[previous.id, default: 0] += 1 }
            inner.answeredResponses.insert(previous.id)
            outputs = previous.outputs + previous.pendingCallIDs.map { (previous.pendingNames[$0] ?? "?", byID[$0] ?? "") }
            round = previous.round + 1
            scenario = previous.scenario
        } else {
            guard let known = inner.scenarios[model] else {
                return error(400, "The model '\(model)' does not exist or you do not have access to it.", code: "model_not_found", param: "model")
            }
            scenario = known
        }
        let id = inner.newID("resp")
        // A bridge accepts `background` and ignores it.
        let background = body["background"]?.boolValue == true && !quirks.noRetrieve
        var object: JSONObject = [
            "id": .string(id), "object": "response", "created_at": .int(now()), "status": background ? "queued" : "in_progress",
            "background": .bool(background), "error": .null, "incomplete_details": .null,
            "instructions": body["instructions"] ?? .null, "model": .string(model), "output": [], "parallel_tool_calls": true,
            "previous_response_id": body["previous_response_id"] ?? .null, "store": body["store"] ?? true,
            "tools": body["tools"] ?? [], "usage": .null, "metadata": body["metadata"] ?? [:],
        ]
        if let conversation { object["conversation"] = ["id": .string(conversation)] }
        var response = FakeResponse(object: object, scenario: scenario, round: round, outputs: outputs, background: background)
        response.conversation = conversation
        // What the conversation held before this response (its answer says so, to show a conversation carried on).
        let earlier = conversation.flatMap { inner.conversations[$0]?.count }
        var frames: [Frame] = []
        var sequence = 0
        var itemSequence = 0
        func add(_ type: String, _ fields: JSONObject) {
            var data: JSONObject = ["type": .string(type)]
            if !quirks.sparseNumbering {
                data["sequence_number"] = .int(Int64(sequence))
            } else if fields["response"] != nil {
                data["sequence_number"] = .int(Int64(sequence))  // lifecycle events: numbered in order
            } else if type.hasPrefix("response.output_item.") {
                data["sequence_number"] = .int(Int64(itemSequence))  // a count of their own, from 0 again
                itemSequence += 1
            }
            for (key, value) in fields { data[key] = value }
            frames.append((type, JSONValue.object(data).serialized()))
            sequence += 1
        }
        add("response.created", ["response": .object(object)])
        if background { add("response.queued", ["response": .object(object)]) }
        object["status"] = "in_progress"
        add("response.in_progress", ["response": .object(object)])
        var items: [JSONValue] = []
        let roundCalls: [ScriptedToolCall]? = round < scenario.rounds.count
            ? scenario.rounds[round] : (quirks.endlessRounds ? scenario.rounds.last : nil)
        if let roundCalls {
            for (index, scripted) in roundCalls.enumerated() {
                var call = scripted
                if quirks.truncatedArguments { call.arguments = String(call.arguments.prefix(call.arguments.count / 2)) }
                let callID = inner.newID("call")
                let itemID = inner.newID("fc")
                response.pendingCallIDs.append(callID)
                response.pendingNames[callID] = call.name
                if let action = call.shellAction {
                    // Shell and patch calls carry an object (action, operation), no argument deltas.
                    let item: JSONValue = call.patch
                        ? ["type": "apply_patch_call", "id": .string(itemID), "call_id": .string(callID), "operation": action, "status": "completed"]
                        : [
                            "type": .string(call.localShell ? "local_shell_call" : "shell_call"), "id": .string(itemID), "call_id": .string(callID),
                            "action": action, "status": "completed",
                        ]
                    add("response.output_item.added", ["output_index": .int(Int64(index)), "item": item])
                    add("response.output_item.done", ["output_index": .int(Int64(index)), "item": item])
                    items.append(item)
                    continue
                }
                let type = call.custom ? "custom_tool_call" : "function_call"
                let field = call.custom ? "input" : "arguments"
                let events = call.custom ? "response.custom_tool_call_input" : "response.function_call_arguments"
                add("response.output_item.added", [
                    "output_index": .int(Int64(index)),
                    "item": ["type": .string(type), "id": .string(itemID), "call_id": .string(callID), "name": .string(call.name), .init(field): "", "status": "in_progress"],
                ])
                for piece in split(call.arguments, scenario.deltaPieces) {
                    add("\(events).delta", ["item_id": .string(itemID), "output_index": .int(Int64(index)), "delta": .string(piece)])
                }
                add("\(events).done", ["item_id": .string(itemID), "output_index": .int(Int64(index)), .init(field): .string(call.arguments)])
                let item: JSONValue = ["id": .string(itemID), "type": .string(type), "status": "completed", .init(field): .string(call.arguments), "call_id": .string(callID), "name": .string(call.name)]
                add("response.output_item.done", ["output_index": .int(Int64(index)), "item": item])
                items.append(item)
            }
            object["status"] = "completed"
        } else {
            switch scenario.ending {
            case .failed(let code, let message):
                object["status"] = "failed"
                object["error"] = ["code": .string(code), "message": .string(message)]
            case .hangs:
                break
            case .expired:
                object["status"] = "incomplete"
                object["incomplete_details"] = ["reason": "max_output_tokens"]
            case .completed, .incomplete:
                var text = scenario.finalText ?? outputs.map { "\($0.name): \($0.output.trimmingCharacters(in: .newlines))" }.joined(separator: "\n")
                if let conversation, let earlier { text += " [conversation \(conversation): \(earlier) items before this answer]" }
                let messageID = inner.newID("msg")
                add("response.output_item.added", ["output_index": 0, "item": ["type": "message", "id": .string(messageID), "status": "in_progress", "role": "assistant", "content": []]])
                add("response.content_part.added", ["item_id": .string(messageID), "output_index": 0, "content_index": 0, "part": ["type": "output_text", "text": "", "annotations": []]])
                for piece in split(text, scenario.deltaPieces) {
                    add("response.output_text.delta", ["item_id": .string(messageID), "output_index": 0, "content_index": 0, "delta": .string(piece), "logprobs": []])
                }
                add("response.output_text.done", ["item_id": .string(messageID), "output_index": 0, "content_index": 0, "text": .string(text), "logprobs": []])
                let incomplete: Bool
                if case .incomplete = scenario.ending { incomplete = true } else { incomplete = false }
                let item: JSONValue = [
                    "type": "message", "id": .string(messageID), "status": incomplete ? "incomplete" : "completed", "role": "assistant",
                    "content": [["type": "output_text", "text": .string(text), "annotations": []]],
                ]
                add("response.output_item.done", ["output_index": 0, "item": item])
                items.append(item)
                object["status"] = incomplete ? "incomplete" : "completed"
                if incomplete { object["incomplete_details"] = ["reason": "max_output_tokens"] }
            }
        }
        object["output"] = .array(items)
        if object["status"]?.stringValue != "in_progress" {
            object["usage"] = [
                "input_tokens": 50, "input_tokens_details": ["cached_tokens": 20], "output_tokens": 12,
                "output_tokens_details": ["reasoning_tokens": 4], "total_tokens": 62,
            ]
            add("response.\(object["status"]!.stringValue!)", ["response": .object(object)])
        }
        response.object = object
        if quirks.doneMarker { frames.append(("", "[DONE]")) }
        response.frames = frames
        if background, case .dropStream? = fault, object["status"]?.stringValue != "in_progress" {
            // The generation goes on server-side after the drop: until the rest is streamed (or polled a few times),
            // the response reports in_progress.
            response.pendingFinal = object
            var live = object
            live["status"] = "in_progress"
            live["output"] = []
            response.object = live
        }
        inner.responses[id] = response
        if let conversation {
            // The conversation keeps the input and every output item (the final ones, even of a dropped stream).
            inner.conversations[conversation, default: []] += (body["input"]?.arrayValue ?? []) + items
        }
        if body["stream"]?.boolValue != true { return .json(200, .object(object)) }
        return .stream(frames, fault, scenario.frameDelay)
    }
}
