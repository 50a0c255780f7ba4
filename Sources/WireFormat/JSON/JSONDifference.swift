/// Where two JSON values first differ: the path to it (`$.output[2].arguments`) and the two values there (`nil`
/// where a member or element is missing on that side).
public struct JSONDifference: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var left: JSONValue?
    public var right: JSONValue?

    public var description: String {
        "\(path): \(left.map { Self.shown($0) } ?? "(missing)") ≠ \(right.map { Self.shown($0) } ?? "(missing)")"
    }

    /// A value as text, cut to 200 characters.
    public static func shown(_ value: JSONValue) -> String {
        let text = value.serialized()
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

extension JSONValue {
    /// The first place, depth first in member order, where `self` and `other` differ; `nil` when they are equal.
    /// Objects compare by member name (order does not matter); a number equals the same number written otherwise
    /// (`1` and `1.0`).
    public func firstDifference(from other: JSONValue, path: String = "$") -> JSONDifference? {
        switch (self, other) {
        case (.object(let left), .object(let right)):
            for (key, value) in left {
                guard let counterpart = right[key] else { return JSONDifference(path: Self.member(path, key), left: value, right: nil) }
                if let difference = value.firstDifference(from: counterpart, path: Self.member(path, key)) { return difference }
            }
            for (key, value) in right where left[key] == nil {
                return JSONDifference(path: Self.member(path, key), left: nil, right: value)
            }
            return nil
        case (.array(let left), .array(let right)):
            for index in 0..<max(left.count, right.count) {
                let itemPath = "\(path)[\(index)]"
                guard index < left.count else { return JSONDifference(path: itemPath, left: nil, right: right[index]) }
                guard index < right.count else { return JSONDifference(path: itemPath, left: left[index], right: nil) }
                if let difference = left[index].firstDifference(from: right[index], path: itemPath) { return difference }
            }
            return nil
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
            return Double(a) == b ? nil : JSONDifference(path: path, left: self, right: other)
        default:
            return self == other ? nil : JSONDifference(path: path, left: self, right: other)
        }
    }

    private static func member(_ path: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.unicodeScalars.allSatisfy { ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) || $0 == "_" }
        return plain ? "\(path).\(key)" : "\(path)[\(JSONValue.string(key).serialized())]"
    }
}
