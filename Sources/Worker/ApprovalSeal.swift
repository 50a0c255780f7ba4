import CCrypto
import WorkModel

/// Binds an approval request to the daemon that made it: HMAC-SHA-256, under a key only daemons hold (the API key,
/// which no call can read), of the run, the call, its tool and its arguments. A row a call planted in the journal
/// (before the request, with a forged approver) has no valid seal and is refused, never taken for a person's word.
public struct ApprovalSeal: Sendable {
    let key: [UInt8]

    /// `nil` for an empty key (nothing to seal with).
    public init?(key: String) {
        guard !key.isEmpty else { return nil }
        self.key = Array(key.utf8)
    }

    /// The seal of one request, as lowercase hex.
    public func seal(runKey: Int64, call: ToolCall) -> String {
        // Length-prefixed fields: no two different requests give the same message.
        var message: [UInt8] = Array("toolworker-approval-v1".utf8)
        for field in ["\(runKey)", call.id, call.name, call.arguments] {
            message += Array("\(field.utf8.count):".utf8) + Array(field.utf8)
        }
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBytes { key in
            message.withUnsafeBufferPointer { data in tw_hmac_sha256(key.baseAddress, Int32(key.count), data.baseAddress, data.count, &out) }
        }
        precondition(ok == 1, "HMAC-SHA-256 failed")
        return out.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// Whether `seal` is this request's (compared in constant time).
    public func verifies(_ seal: String?, runKey: Int64, call: ToolCall) -> Bool {
        guard let seal else { return false }
        let expected = Array(self.seal(runKey: runKey, call: call).utf8), given = Array(seal.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
