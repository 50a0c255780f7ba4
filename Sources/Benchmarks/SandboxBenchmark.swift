import Foundation
import RunLoopCore

/// What a sandbox adds to one call: `/bin/true` through `HandlerRunner`, unconfined, under `limits: {memory: …}` (a
/// control group of its own, and bubblewrap, which every limit uses: the control-group files and host sockets are
/// hidden from the call), and with `network: false` as well (a network namespace), each as a ratio to the
/// unconfined call measured in the same run, the three interleaved call by call.
enum SandboxBenchmark {
    static func run(calls: Int) async throws {
        let host = SandboxHost.detect()
        var memory = ToolLimits()
        memory.memoryBytes = 256 << 20
        var isolated = memory
        isolated.network = false
        var kinds: [(name: String, sandbox: Sandbox?)] = [("unconfined", nil)]
        if host.controlGroups != nil { kinds.append(("memory: 256M (control group + bubblewrap)", Sandbox(limits: memory, host: host))) }
        if host.controlGroups != nil && host.bubblewrap != nil {
            kinds.append(("memory: 256M, network: false (+ a network namespace)", Sandbox(limits: isolated, host: host)))
        }
        var times = Array(repeating: [Double](), count: kinds.count)
        let runner = HandlerRunner()
        for _ in 0..<calls {
            for (index, kind) in kinds.enumerated() {
                let start = ContinuousClock.now
                let result = try await runner.run(
                    command: ["/bin/true"], stdin: "{}", environment: ["PATH": "/usr/bin:/bin"], workingDirectory: nil, timeout: .seconds(30),
                    maxOutputBytes: 1024, sandbox: kind.sandbox)
                precondition(result.termination == .exited(0), "sandbox benchmark: \(kind.name): \(result.termination)")
                times[index].append((ContinuousClock.now - start).seconds * 1000)
            }
        }
        let base = median(times[0])
        for (index, kind) in kinds.enumerated() {
            let sorted = times[index].sorted()
            print(String(
                format: "sandbox: %@ over %d calls: median %.2f ms, p99 %.2f ms, %.2fx unconfined", kind.name, calls, median(sorted),
                sorted[min(sorted.count - 1, sorted.count * 99 / 100)], median(sorted) / base))
        }
        if kinds.count < 3 { print("sandbox: this host lacks \(host.controlGroups == nil ? "a writable control group" : "bubblewrap"); those rows are left out") }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}
