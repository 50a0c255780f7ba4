import FuzzDriver
import RunLoopCore

/// libFuzzer target: the JSON parser, and a round trip through the serializer for whatever it accepts: what it
/// writes must parse, and writing that again must give the same text (a number beyond Double's range parses as
/// infinity and is written `null`, as JavaScript's `JSON.stringify` does, so the first round may normalize).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONValue(parsing: bytes) else { return 0 }
    let text = value.serialized()
    guard let again = try? JSONValue(parsing: text) else { fatalError("serialized JSON does not parse: \(text.prefix(200))") }
    let textAgain = again.serialized()
    if textAgain != text { fatalError("serializing is not stable: \(text.prefix(200)) then \(textAgain.prefix(200))") }
    return 0
}

@_cdecl("FuzzJSON_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in fuzzJSON(data, size) }
}
