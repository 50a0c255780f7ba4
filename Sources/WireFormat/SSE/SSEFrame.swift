/// One server-sent event as framed on the wire, before any interpretation of its data.
public struct SSEFrame: Sendable, Equatable {
    /// The `event:` field; `nil` when the frame had none (the SSE default type "message").
    public var event: String?
    /// The `data:` lines joined with `\n`.
    public var data: String
    /// The last `id:` field seen in the stream, if any.
    public var id: String?
    /// The `retry:` field of this frame, if it carried a valid one.
    public var retry: Int?
    /// Byte offset of the frame's first line in the stream.
    public var offset: Int

    public init(event: String?, data: String, id: String? = nil, retry: Int? = nil, offset: Int = 0) {
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
        self.offset = offset
    }

    /// The frame as stream text, which ``SSEParser`` reads back as the same event and data: an `event:` line
    /// (none for an empty or absent name), a `data:` line per line of the data, and the blank line that ends it.
    public var encoded: String {
        var text = ""
        if let event, !event.isEmpty { text += "event: \(event)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        return text + "\n"
    }
}

/// The event stream itself was unusable.
public enum SSEError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One frame grew past the configured limit; the stream cannot be trusted past this point.
    case frameTooLarge(limit: Int, offset: Int)

    public var description: String {
        switch self {
        case .frameTooLarge(let limit, let offset):
            return "server-sent event starting at byte \(offset) is larger than the \(limit)-byte limit"
        }
    }
}
