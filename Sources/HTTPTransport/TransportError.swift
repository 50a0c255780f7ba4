import WireFormat
/// A request that got no HTTP answer: libcurl's code and message, and whether the request can have reached the
/// server (which decides whether repeating a non-idempotent request is safe).
public struct TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Name resolution or TCP connect failed.
        case couldNotConnect
        /// A time-out set on the request (connect or total).
        case timedOut
        /// A stream produced no byte for longer than the idle time-out.
        case stalled
        /// The consumer cancelled the transfer.
        case cancelled
        /// The connection broke, or anything else libcurl reports.
        case other
    }

    public let kind: Kind
    /// libcurl's `CURLcode` (0 for errors raised by ToolWorker itself, such as ``Kind/stalled``).
    public let curlCode: Int
    public let message: String
    /// `false` only when not one byte of the request was sent: then it is safe to send again.
    public let requestMayHaveBeenSent: Bool

    public init(kind: Kind, curlCode: Int, message: String, requestMayHaveBeenSent: Bool) {
        self.kind = kind
        self.curlCode = curlCode
        self.message = message
        self.requestMayHaveBeenSent = requestMayHaveBeenSent
    }

    public var description: String {
        let code = curlCode == 0 ? "" : " (curl \(curlCode))"
        return "\(message)\(code)"
    }
}
