import FakeAssistants
import Foundation
import Logging
import RunLoopCore

/// ToolWorker benchmarks, reported as rates and ratios (never asserted in tests).
/// Run: swift run -c release Benchmarks [engine|stream|client|store|dispatch|sandbox|loop|all]
let which = CommandLine.arguments.dropFirst().first ?? "all"
let validBenchmarks = ["engine", "stream", "client", "store", "dispatch", "sandbox", "loop", "all"]
guard validBenchmarks.contains(which) else {
    FileHandle.standardError.write(Data("usage: Benchmarks [\(validBenchmarks.joined(separator: "|"))]\n".utf8))
    exit(64)
}

// TOOLWORKER_BENCH_METRICS=1: with the Prometheus metrics backend that `serve` uses (to compare with the no-op default).
let metricsExport = ProcessInfo.processInfo.environment["TOOLWORKER_BENCH_METRICS"] == "1" ? MetricsExport() : nil
if metricsExport != nil { print("metrics: Prometheus backend bootstrapped") }

func measure(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return (ContinuousClock.now - start).seconds
}

func measureAsync(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    return (ContinuousClock.now - start).seconds
}

/// Five passes of SSE parsing and `apply` over `body` (a fresh accumulator each, from `make`): the number of
/// events, the pass times sorted (best first: this machine's noise only ever adds time) and the final text length.
func enginePasses<Accumulator>(
    _ body: [UInt8], make: () -> Accumulator, apply: (inout Accumulator, SSEFrame) -> Void, textLength: (Accumulator) -> Int
) throws -> (events: Int, times: [Double], textLength: Int) {
    let chunks = SyntheticStream.chunked(body, size: 1_400)
    var events = 0
    var length = 0
    var times: [Double] = []
    for _ in 0..<5 {
        events = 0
        times.append(try measure {
            var parser = SSEParser()
            var accumulator = make()
            var frames: [SSEFrame] = []
            for chunk in chunks {
                frames.removeAll(keepingCapacity: true)
                try chunk.withUnsafeBufferPointer { try parser.feed($0, into: &frames) }
                for frame in frames {
                    apply(&accumulator, frame)
                    events += 1
                }
            }
            length = textLength(accumulator)
        })
    }
    return (events, times.sorted(), length)
}

if which == "engine" || which == "all" {
    for deltas in [20_000, 100_000] {
        let body = SyntheticStream.messageStream(deltas: deltas)
        let (events, times, textLength) = try enginePasses(
            body, make: SnapshotAccumulator.init, apply: { _ = $0.apply(EventDecoder.decode($1).event, helpers: false) },
            textLength: { $0.finalMessages.first?.text.count ?? 0 })
        let best = times[0]
        print(
            String(
                format: "engine: %d deltas, %d events, %.1f MB: best of 5 %.3f s = %.0f events/s, %.1f MB/s; median %.0f events/s (text %d chars)",
                deltas, events, Double(body.count) / 1e6, best, Double(events) / best,
                Double(body.count) / 1e6 / best, Double(events) / times[2], textLength))
    }
    for deltas in [20_000, 100_000] {
        let body = SyntheticStream.responseStream(deltas: deltas)
        let (events, times, textLength) = try enginePasses(
            body, make: ResponseAccumulator.init, apply: { $0.apply(ResponseEventDecoder.decode($1)) },
            textLength: { $0.outputText?.count ?? 0 })
        print(
            String(
                format: "engine (responses): %d deltas, %d events, %.1f MB: best of 5 %.3f s = %.0f events/s; median %.0f events/s (text %d chars)",
                deltas, events, Double(body.count) / 1e6, times[0], Double(events) / times[0], Double(events) / times[2], textLength))
    }
}

if which == "stream" || which == "all" {
    for deltas in [20_000, 100_000] {
        let chunks = SyntheticStream.chunked(SyntheticStream.messageStream(deltas: deltas), size: 1_400)
        // Off the main actor, as a worker task would consume it (from top-level code every element would cost
        // two executor hops, which is what an earlier version of this benchmark measured).
        let (elements, seconds) = try await Task.detached {
            var elements = 0
            let start = ContinuousClock.now
            let stream = AssistantStream(BenchmarkChunks(chunks: chunks), helpers: true)
            for try await _ in stream { elements += 1 }
            return (elements, (ContinuousClock.now - start).seconds)
        }.value
        print(
            String(
                format: "AssistantStream with helper events: %d deltas, %d elements in %.3f s = %.0f deltas/s",
                deltas, elements, seconds, Double(deltas) / seconds))
    }
}

struct BenchmarkChunks: AsyncSequence, Sendable {
    let chunks: [[UInt8]]
    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<[UInt8]>
        mutating func next() async -> [UInt8]? { remaining.popFirst() }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: chunks[...]) }
}

/// Peak resident set size of this process, in MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

if which == "client" || which == "all" {
    // 20,000 message deltas served by the fake server over loopback, read through libcurl and the engine.
    let deltas = 20_000
    let text = (0..<deltas).map { " tok\($0 % 97)" }.joined()
    let server = try FakeAssistantsServer(scenarios: ["asst_bench": Scenario(finalText: text, deltaPieces: deltas)])
    let client = AssistantsClient(configuration: OpenAIClientConfiguration(baseURL: server.baseURL, apiKey: server.apiKey))
    let (events, seconds) = try await Task.detached {
        var events = 0
        let start = ContinuousClock.now
        let response = try await client.createThreadAndRun(["assistant_id": "asst_bench"])
        let stream = response.events()
        for try await element in stream { if case .event = element { events += 1 } }
        precondition(stream.accumulator.finalMessages.last?.text.count == text.count)
        return (events, (ContinuousClock.now - start).seconds)
    }.value
    print(String(format: "client+engine: %d events over loopback in %.3f s = %.0f events/s (server in the same process)", events, seconds, Double(events) / seconds))
    // Concurrency: many streams at once from one client.
    for concurrent in [200, 500] {
        let perStream = 50
        let small = (0..<perStream).map { " w\($0)" }.joined()
        server.register(Scenario(finalText: small, deltaPieces: perStream), for: "asst_small")
        var total = 0
        let elapsed = try await measureAsync {
            total = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<concurrent {
                    group.addTask {
                        var n = 0
                        for try await element in try await client.createThreadAndRun(["assistant_id": "asst_small"]).events() {
                            if case .event = element { n += 1 }
                        }
                        return n
                    }
                }
                var sum = 0
                for try await n in group { sum += n }
                return sum
            }
        }
        print(String(format: "concurrent: %d streams, %d events in %.3f s = %.0f events/s", concurrent, total, elapsed, Double(total) / elapsed))
    }
    print(String(format: "peak RSS: %.1f MiB", peakRSSMiB()))
    server.stop()
}

if which == "store" || which == "all" {
    try await StoreBenchmark.run()
}

if which == "dispatch" || which == "all" {
    for protocolName in [AssistantsBackend.descriptor.name, ResponsesBackend.descriptor.name] {
        try await DispatchBenchmark.run(rounds: Int(ProcessInfo.processInfo.environment["ROUNDS"] ?? "") ?? 1000, protocolName: protocolName)
    }
}

if which == "sandbox" || which == "all" {
    try await SandboxBenchmark.run(calls: Int(ProcessInfo.processInfo.environment["CALLS"] ?? "") ?? 300)
}

if which == "loop" || which == "all" {
    // A whole tool loop through RunDriver (stream, engine, journal with lifecycle snapshots) for a 20,000-delta
    // answer, per protocol: ingest in events per second.
    let deltas = 20_000
    let text = (0..<deltas).map { " tok\($0 % 97)" }.joined()
    let server = try FakeAssistantsServer(scenarios: ["asst_long": Scenario(finalText: text, deltaPieces: deltas)])
    let directory = NSTemporaryDirectory() + "toolworker-loop-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for protocolName in [AssistantsBackend.descriptor.name, ResponsesBackend.descriptor.name] {
        let store = try AuditStore(path: "\(directory)/\(protocolName).db")
        let driver = RunDriver(
            backends: DispatchBenchmark.backends(server, tools: []), journal: store,
            dispatcher: ToolDispatcher(registry: ToolRegistry([]), maxConcurrentCalls: 1), policy: .lifecycle,
            logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let request = protocolName == ResponsesBackend.descriptor.name
            ? RunRequest(assistantID: "", message: "go", protocolName: protocolName, model: "asst_long")
            : RunRequest(assistantID: "asst_long", message: "go", protocolName: protocolName)
        let (outcome, seconds) = try await Task.detached {
            let start = ContinuousClock.now
            let outcome = try await driver.run(request)
            return (outcome, (ContinuousClock.now - start).seconds)
        }.value
        precondition(outcome.status == .completed && outcome.finalText?.count == text.count, "loop benchmark: \(outcome)")
        let events = try await store.lastEventSeq(runKey: outcome.runKey)
        print(String(format: "loop (%@): %d events, stored with lifecycle snapshots, in %.3f s = %.0f events/s", protocolName, events, seconds, Double(events) / seconds))
        store.close()
    }
    try? FileManager.default.removeItem(atPath: directory)
    server.stop()
}
