import WireFormat
/// Turns SSE frames into ``ServerEvent``s. Stateless and total: it never throws, it classifies.
public enum EventDecoder {
    public static func decode(_ frame: SSEFrame) -> ServerEvent {
        let name = frame.event ?? "message"
        return ServerEvent(name: name, data: frame.data, offset: frame.offset, event: classify(name, frame))
    }

    private static func classify(_ name: String, _ frame: SSEFrame) -> AssistantEvent {
        if name == "thread.message.delta", let piece = MessageDelta.scanTextPiece(frame.data) {
            return .messageDelta(MessageDelta(text: piece))
        }
        if name == "done" || frame.data == "[DONE]" { return .done }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: frame.data)
        } catch {
            let decodingError = EventDecodingError(
                event: name, frameOffset: frame.offset, dataOffset: error.offset, reason: error.reason)
            // An error event with a plain-text body is still an error the server meant to send.
            if name == "error" { return .error(APIErrorObject(message: frame.data)) }
            return .malformed(decodingError)
        }
        if name == "error" { return .error(APIErrorObject(json: json)) }
        guard name.hasPrefix("thread.") else { return .unknown(name: name, data: json) }
        guard case .object = json else {
            return .malformed(
                EventDecodingError(
                    event: name, frameOffset: frame.offset, dataOffset: 0, reason: "data is not a JSON object"))
        }
        let suffix = name.dropFirst("thread.".count)
        if suffix == "created" { return .threadCreated(AssistantThread(json: json)) }
        if suffix == "run.step.delta" { return .runStepDelta(RunStepDelta(json: json)) }
        if suffix == "message.delta" { return .messageDelta(MessageDelta(json: json)) }
        if suffix.hasPrefix("run.step."), let kind = RunStepEventKind(rawValue: String(suffix.dropFirst(9))) {
            return .runStep(kind, RunStep(json: json))
        }
        if suffix.hasPrefix("message."), let kind = MessageEventKind(rawValue: String(suffix.dropFirst(8))) {
            return .message(kind, Message(json: json))
        }
        if suffix.hasPrefix("run."), let kind = RunEventKind(rawValue: String(suffix.dropFirst(4))) {
            return .run(kind, Run(json: json))
        }
        return .unknown(name: name, data: json)
    }
}
