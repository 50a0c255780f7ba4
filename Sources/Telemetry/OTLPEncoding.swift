import Tracing

/// The OTLP/HTTP protobuf body of an export: `ExportTraceServiceRequest` with one resource and one scope
/// (opentelemetry-proto `collector/trace/v1`, `trace/v1`, `common/v1`), written field by field: the few messages
/// ToolWorker sends do not warrant a protobuf runtime and its code generator.
enum OTLPEncoding {
    static func exportRequest(
        _ spans: [FinishedSpan], serviceName: String, resourceAttributes: [(key: String, value: String)], scopeVersion: String
    ) -> [UInt8] {
        var resource = ProtobufWriter()
        resource.message(1, keyValue("service.name", .string(serviceName)))  // Resource.attributes
        for (key, value) in resourceAttributes { resource.message(1, keyValue(key, .string(value))) }
        var scope = ProtobufWriter()
        scope.string(1, "toolworker")  // InstrumentationScope.name
        scope.string(2, scopeVersion)
        var scopeSpans = ProtobufWriter()
        scopeSpans.message(1, scope.bytes)  // ScopeSpans.scope
        for span in spans { scopeSpans.message(2, encode(span)) }  // ScopeSpans.spans
        var resourceSpans = ProtobufWriter()
        resourceSpans.message(1, resource.bytes)  // ResourceSpans.resource
        resourceSpans.message(2, scopeSpans.bytes)  // ResourceSpans.scope_spans
        var request = ProtobufWriter()
        request.message(1, resourceSpans.bytes)  // ExportTraceServiceRequest.resource_spans
        return request.bytes
    }

    static func encode(_ span: FinishedSpan) -> [UInt8] {
        var writer = ProtobufWriter()
        writer.bytes(1, span.context.traceID)
        writer.bytes(2, span.context.spanID)
        if let state = span.context.traceState { writer.string(3, state) }
        if let parent = span.parentSpanID { writer.bytes(4, parent) }
        writer.string(5, span.name)
        writer.varint(6, UInt64(kind(span.kind)))
        writer.fixed64(7, span.startNanoseconds)
        writer.fixed64(8, span.endNanoseconds)
        for (key, value) in span.attributes { writer.message(9, keyValue(key, value)) }
        for event in span.events {
            var encoded = ProtobufWriter()
            encoded.fixed64(1, event.nanosecondsSinceEpoch)  // Span.Event.time_unix_nano
            encoded.string(2, event.name)
            event.attributes.forEach { key, value in encoded.message(3, keyValue(key, value)) }
            writer.message(11, encoded.bytes)
        }
        if span.statusCode != 0 {
            var status = ProtobufWriter()
            if let message = span.statusMessage { status.string(2, message) }
            status.varint(3, UInt64(span.statusCode))
            writer.message(15, status.bytes)
        }
        writer.fixed32(16, span.context.sampled ? 0x101 : 0x100)  // flags: trace flags, and "parent is known"
        return writer.bytes
    }

    /// OTLP `SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    static func kind(_ kind: SpanKind) -> Int {
        switch kind {
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        default: 1
        }
    }

    /// `KeyValue { key = 1; AnyValue value = 2 }`.
    static func keyValue(_ key: String, _ value: SpanAttribute) -> [UInt8] {
        var writer = ProtobufWriter()
        writer.string(1, key)
        writer.message(2, anyValue(value))
        return writer.bytes
    }

    /// `AnyValue`: string 1, bool 2, int 3, double 4, array 5.
    static func anyValue(_ value: SpanAttribute) -> [UInt8] {
        var writer = ProtobufWriter()
        switch value {
        case .string(let text): writer.string(1, text)
        case .bool(let flag): writer.varint(2, flag ? 1 : 0)
        case .int32(let number): writer.varint(3, UInt64(bitPattern: Int64(number)))
        case .int64(let number): writer.varint(3, UInt64(bitPattern: number))
        case .double(let number): writer.fixed64(4, number.bitPattern)
        case .stringArray(let texts): writer.message(5, array(texts.map { .string($0) }))
        case .int64Array(let numbers): writer.message(5, array(numbers.map { .int64($0) }))
        case .int32Array(let numbers): writer.message(5, array(numbers.map { .int32($0) }))
        case .doubleArray(let numbers): writer.message(5, array(numbers.map { .double($0) }))
        case .boolArray(let flags): writer.message(5, array(flags.map { .bool($0) }))
        case .stringConvertible(let value): writer.string(1, value.description)
        case .stringConvertibleArray(let values): writer.message(5, array(values.map { .string($0.description) }))
        default: writer.string(1, "\(value)")
        }
        return writer.bytes
    }

    /// `ArrayValue { repeated AnyValue values = 1 }`.
    static func array(_ values: [SpanAttribute]) -> [UInt8] {
        var writer = ProtobufWriter()
        for value in values { writer.message(1, anyValue(value)) }
        return writer.bytes
    }
}

/// Protocol buffers' wire format, the parts OTLP needs: varints, fixed 32/64-bit numbers, length-delimited fields.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ field: Int, _ value: UInt64) {
        tag(field, wireType: 0)
        raw(value)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, wireType: 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        tag(field, wireType: 5)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, wireType: 2)
        raw(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ value: [UInt8]) { bytes(field, value) }

    private mutating func tag(_ field: Int, wireType: UInt64) { raw(UInt64(field) << 3 | wireType) }

    private mutating func raw(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}
