#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A cursor that recognises one expected shape of compact JSON text without building a ``JSONValue`` tree.
///
/// Decoders use it for fast paths over frequent, fixed-shape events (a text delta is the same 150 bytes a
/// hundred thousand times): each step either matches and advances or reports `nil`/`false`, and the caller then
/// falls back to ``JSONValue/init(parsing:maxDepth:)``, so a scanner can only decline, never decide differently.
/// Strings and numbers are read by the same code as the full parser.
public struct JSONScanner {
    private var parser: JSONParser

    /// A scanner at the start of `bytes`, which must outlive it (use it inside `String.withUTF8`).
    public init(bytes: UnsafeBufferPointer<UInt8>) {
        parser = JSONParser(bytes: bytes, maxDepth: 1)
    }

    /// Consumes `literal` if the text continues with exactly those bytes (no whitespace is skipped).
    public mutating func expect(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        let bytes = parser.bytes
        let start = parser.position
        guard start + count <= bytes.count else { return false }
        guard memcmp(bytes.baseAddress! + start, literal.utf8Start, count) == 0 else { return false }
        parser.position += count
        return true
    }

    /// Reads a JSON string (escapes decoded, UTF-8 validated) at the cursor.
    public mutating func string() -> String? {
        guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: "\"") else {
            return nil
        }
        return try? parser.parseString()
    }

    /// Moves past a JSON string that ``string()`` would read, without building it; `false` (cursor unspecified)
    /// when it would not.
    public mutating func skipString() -> Bool {
        guard peek == UInt8(ascii: "\"") else { return false }
        do {
            try parser.skipString()
            return true
        } catch {
            return false
        }
    }

    /// Reads a JSON integer at the cursor (a number with a fraction or exponent declines).
    public mutating func integer() -> Int64? {
        guard parser.position < parser.bytes.count else { return nil }
        let byte = parser.bytes[parser.position]
        guard byte == UInt8(ascii: "-") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) else { return nil }
        guard case .int(let value)? = try? parser.parseNumber() else { return nil }
        return value
    }

    /// Skips JSON white space.
    public mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { parser.position += 1 }
    }

    /// The byte at the cursor, `nil` at the end.
    public var peek: UInt8? { parser.position < parser.bytes.count ? parser.bytes[parser.position] : nil }

    /// Whether the whole text has been consumed.
    public var isAtEnd: Bool { parser.position == parser.bytes.count }
}
