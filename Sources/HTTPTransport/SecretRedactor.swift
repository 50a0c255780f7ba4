#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import WireFormat
/// Replaces every occurrence of a secret in a byte stream, across any chunking, without delaying bytes that cannot
/// be part of it.
///
/// Only the longest tail of a chunk that is a proper prefix of the secret is held back until the next chunk (or
/// the end), so a frame that ends a chunk (`\n\n`) is passed on at once: a server that waits for our answer after
/// an event never waits on the redactor.
struct SecretRedactor: Sendable {
    static let replacement = Array("[REDACTED]".utf8)

    private let secret: [UInt8]
    private var held: [UInt8] = []

    /// Redacting `secret`; `nil` or too short a secret (under 6 bytes would hit ordinary text) redacts nothing.
    init?(_ secret: String?) {
        guard let secret, secret.utf8.count >= 6 else { return nil }
        self.secret = Array(secret.utf8)
    }

    /// The bytes of `chunk` (after those held from before) that are safe to pass on. A chunk without any part of
    /// the secret is passed on as it is, without a copy (`memchr` finds the candidates).
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
            while index < bytes.count, let found = memchr(base + index, Int32(secret[0]), bytes.count - index) {
                let at = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
                let remaining = bytes.count - at
                if remaining >= secret.count {
                    if memcmp(base + at, secret, secret.count) == 0 {
                        if output == nil { output = []; output!.reserveCapacity(bytes.count) }
                        output!.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copied..<at]))
                        output!.append(contentsOf: SecretRedactor.replacement)
                        index = at + secret.count
                        copied = index
                        continue
                    }
                } else if memcmp(base + at, secret, remaining) == 0 {
                    // A possible start of the secret at the end: wait for the next bytes.
                    heldTail = Array(UnsafeBufferPointer(rebasing: bytes[at...]))
                    var out = output ?? []
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copied..<at]))
                    return out
                }
                index = at + 1
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

    /// `text` with every occurrence of `secret` replaced.
    static func redact(_ text: String, secret: String?) -> String {
        guard let secret, secret.utf8.count >= 6 else { return text }
        return text.replacingOccurrences(of: secret, with: "[REDACTED]")
    }
}
