import Instrumentation

/// A span's place in its trace, as W3C Trace Context carries it: trace id, span id, whether it is sampled.
public struct SpanContext: Sendable, Hashable {
    /// 16 bytes, not all zero.
    public var traceID: [UInt8]
    /// 8 bytes, not all zero.
    public var spanID: [UInt8]
    public var sampled: Bool
    /// `tracestate`, passed on as received.
    public var traceState: String?

    public init(traceID: [UInt8], spanID: [UInt8], sampled: Bool, traceState: String? = nil) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
        self.traceState = traceState
    }

    /// `00-TRACEID-SPANID-FLAGS` (version 00).
    public var traceparent: String {
        "00-\(Self.hex(traceID))-\(Self.hex(spanID))-\(sampled ? "01" : "00")"
    }

    /// A `traceparent` value, or `nil` for anything that is not one (wrong lengths, not hex, all-zero ids, version ff).
    public init?(traceparent: String, traceState: String? = nil) {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", let version = Self.bytes(parts[0]), version.count == 1,
              version[0] != 0 || parts.count == 4,
              let trace = Self.bytes(parts[1]), trace.count == 16, trace.contains(where: { $0 != 0 }),
              let span = Self.bytes(parts[2]), span.count == 8, span.contains(where: { $0 != 0 }),
              let flags = Self.bytes(parts[3]), flags.count == 1
        else { return nil }
        self.init(traceID: trace, spanID: span, sampled: flags[0] & 1 == 1, traceState: traceState)
    }

    /// Lowercase hex, as `traceparent` writes ids.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < utf8.count {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil  // W3C: lowercase only
        }
    }
}

extension InstrumentationContext {
    /// The span this context is inside of (set by ``OTLPTracer``, or taken from an incoming `traceparent`).
    public var spanContext: SpanContext? {
        get { self[SpanContextKey.self] }
        set { self[SpanContextKey.self] = newValue }
    }
}

private enum SpanContextKey: InstrumentationContextKey {
    typealias Value = SpanContext
    static var nameOverride: String? { "traceparent" }
}
