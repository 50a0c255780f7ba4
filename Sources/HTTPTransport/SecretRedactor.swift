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

    /// The bytes of `chunk` (after those held from before) that are safe to pass on.
    mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        var input = held
        input += chunk
        held.removeAll(keepingCapacity: true)
        guard !input.isEmpty else { return [] }
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        let first = secret[0]
        while index < input.count {
            let byte = input[index]
            if byte == first {
                let remaining = input.count - index
                if remaining >= secret.count {
                    if input[index..<(index + secret.count)].elementsEqual(secret) {
                        output += SecretRedactor.replacement
                        index += secret.count
                        continue
                    }
                } else if input[index...].elementsEqual(secret[0..<remaining]) {
                    // A possible start of the secret at the end: wait for the next bytes.
                    held = Array(input[index...])
                    return output
                }
            }
            output.append(byte)
            index += 1
        }
        return output
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
