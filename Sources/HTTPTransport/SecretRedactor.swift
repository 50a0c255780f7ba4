#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import WireFormat
/// Replaces every occurrence of a secret in a byte stream, across any chunking, without delaying bytes that cannot
/// be part of it.
///
/// The secret is found as written and as a JSON string can spell it: any of its ASCII characters as a `\uXXXX`
/// escape (either case of hex digits) and `/` as `\/`. A server that echoes the key escaped would otherwise get it
/// past the byte match into the journal and, once decoded, to a handler.
///
/// Only the longest tail of a chunk that could begin the secret is held back until the next chunk (or the end), so
/// a frame that ends a chunk (`\n\n`) is passed on at once: a server that waits for our answer after an event never
/// waits on the redactor.
struct SecretRedactor: Sendable {
    static let replacement = Array("[REDACTED]".utf8)
    private static let backslash = UInt8(ascii: "\\")

    private let secret: [UInt8]
    private var held: [UInt8] = []

    /// Redacting `secret`; `nil` or too short a secret (under 6 bytes would hit ordinary text) redacts nothing.
    init?(_ secret: String?) {
        guard let secret, secret.utf8.count >= 6 else { return nil }
        self.secret = Array(secret.utf8)
    }

    /// How the bytes at a position compare with the secret.
    enum Match: Equatable {
        /// The secret, spelled in this many bytes.
        case whole(length: Int)
        /// The bytes end while they still could be the secret.
        case prefix
        case none
    }

    /// Whether `bytes` (from its start) spell the secret, literally or with JSON escapes.
    static func match(_ bytes: UnsafeBufferPointer<UInt8>, secret: [UInt8]) -> Match {
        var position = 0
        for expected in secret {
            guard position < bytes.count else { return .prefix }
            let byte = bytes[position]
            if byte == expected {
                position += 1
                continue
            }
            guard byte == backslash, expected < 0x80 else { return .none }
            guard position + 1 < bytes.count else { return .prefix }
            let kind = bytes[position + 1]
            if kind == UInt8(ascii: "/"), expected == UInt8(ascii: "/") {
                position += 2
                continue
            }
            guard kind == UInt8(ascii: "u") else { return .none }
            var value: UInt32 = 0
            for offset in 2..<6 {
                guard position + offset < bytes.count else { return .prefix }
                guard let digit = hexValue(bytes[position + offset]) else { return .none }
                value = value << 4 | digit
            }
            guard value == UInt32(expected) else { return .none }
            position += 6
        }
        return .whole(length: position)
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// The bytes of `chunk` (after those held from before) that are safe to pass on. A chunk without any candidate
    /// start of the secret (its first byte, or a backslash) is passed on as it is, without a copy (`memchr` finds
    /// the candidates).
    mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        var input = chunk
        if !held.isEmpty {
            input = held + chunk
            held.removeAll(keepingCapacity: true)
        }
        guard !input.isEmpty else { return [] }
        let secret = self.secret
        var heldTail: [UInt8]?
        let redacted: [UInt8]? = input.withUnsafeBufferPointer { bytes -> [UInt8]? in
            let base = bytes.baseAddress!
            var output: [UInt8]?
            var copied = 0
            var index = 0
            // The next candidate of each kind, found lazily (`count` when there is none).
            var nextFirst = -1
            var nextEscape = secret[0] < 0x80 ? -1 : bytes.count
            func find(_ byte: UInt8, from start: Int) -> Int {
                guard start < bytes.count, let found = memchr(base + start, Int32(byte), bytes.count - start) else { return bytes.count }
                return UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
            }
            while index < bytes.count {
                if nextFirst < index { nextFirst = find(secret[0], from: index) }
                if nextEscape < index { nextEscape = find(Self.backslash, from: index) }
                let at = min(nextFirst, nextEscape)
                guard at < bytes.count else { break }
                switch Self.match(UnsafeBufferPointer(rebasing: bytes[at...]), secret: secret) {
                case .whole(let length):
                    if output == nil { output = []; output!.reserveCapacity(bytes.count) }
                    output!.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copied..<at]))
                    output!.append(contentsOf: SecretRedactor.replacement)
                    index = at + length
                    copied = index
                case .prefix:
                    // A possible start of the secret at the end: wait for the next bytes.
                    heldTail = Array(UnsafeBufferPointer(rebasing: bytes[at...]))
                    var out = output ?? []
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copied..<at]))
                    return out
                case .none:
                    // An escape that is not the secret's is skipped whole (`\\` must not pair its second backslash
                    // with what follows).
                    index = at + (bytes[at] == Self.backslash && at + 1 < bytes.count ? 2 : 1)
                }
            }
            guard var output else { return nil }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copied...]))
            return output
        }
        if let heldTail { held = heldTail }
        return redacted ?? input
    }

    /// The bytes still held at the end of the stream (a prefix of the secret that never completed).
    mutating func finish() -> [UInt8] {
        defer { held.removeAll() }
        return held
    }

    /// `bytes` with every whole occurrence of `secret` replaced.
    static func redact(_ bytes: [UInt8], secret: String?) -> [UInt8] {
        guard var redactor = SecretRedactor(secret) else { return bytes }
        return redactor.feed(bytes) + redactor.finish()
    }

    /// `text` with every occurrence of `secret` (as written or JSON-escaped) replaced.
    static func redact(_ text: String, secret: String?) -> String {
        guard secret.map({ $0.utf8.count >= 6 }) == true else { return text }
        return String(decoding: redact(Array(text.utf8), secret: secret), as: UTF8.self)
    }
}
