/// The error object of an `error` event or of an HTTP error body (`{"error": {...}}` or the bare object).
public struct APIErrorObject: Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var type: String?
    public var code: String?
    public var param: String?

    public init(message: String, type: String? = nil, code: String? = nil, param: String? = nil) {
        self.message = message
        self.type = type
        self.code = code
        self.param = param
    }

    /// Reads either shape; a non-object is taken as the message text.
    public init(json: JSONValue) {
        let body = json["error"].flatMap { $0.objectValue != nil ? $0 : nil } ?? json
        if body.objectValue == nil {
            self.init(message: body.stringValue ?? body.serialized())
            return
        }
        self.init(
            message: body["message"]?.stringValue ?? body.serialized(),
            type: body["type"]?.stringValue,
            code: body["code"]?.stringValue ?? body["code"]?.intValue.map { String($0) },
            param: body["param"]?.stringValue)
    }

    public var description: String {
        var parts = [message]
        if let type { parts.append("type=\(type)") }
        if let code { parts.append("code=\(code)") }
        if let param { parts.append("param=\(param)") }
        return parts.joined(separator: " ")
    }
}
