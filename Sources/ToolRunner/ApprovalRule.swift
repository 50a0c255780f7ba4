import WireFormat
import WorkModel

/// When a tool's call waits for a person's word before it runs (`approval:` of a tool, the shell, the workspace).
public enum ApprovalRule: Sendable, Equatable {
    case never
    case always
    /// When the arguments (a JSON object) hold every one of these members with these values (`"*"`: any value).
    case when([String: JSONValue])

    /// Whether a call with `arguments` needs approval. Arguments that are not a JSON object match no `when` (a
    /// custom tool's free text, for instance): such tools take `always` or `never`.
    public func requiresApproval(_ arguments: String) -> Bool {
        switch self {
        case .never: return false
        case .always: return true
        case .when(let members):
            guard let object = (try? JSONValue(parsing: arguments))?.objectValue else { return false }
            return members.allSatisfy { key, value in
                guard let actual = object[key] else { return false }
                return value == .string("*") || Self.sameValue(actual, value)
            }
        }
    }

    /// JSON equality with numbers compared as numbers (`1`, `1.0` and `1e0` are the same value), in arrays and
    /// objects too.
    static func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x == y
        case (.int, .double), (.double, .int), (.double, .double):
            if let x = a.intValue, let y = b.intValue { return x == y }
            return a.doubleValue == b.doubleValue
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { sameValue($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameValue(value, $0) } ?? false }
        default: return a == b
        }
    }
}

