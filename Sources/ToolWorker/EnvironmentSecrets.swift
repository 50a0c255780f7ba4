import Foundation
import Synchronization

/// The API key taken out of this process's environment once it is read: kept here, in memory only, and its bytes in
/// the environment block overwritten (unsetenv alone leaves them in `/proc/PID/environ`, which any process of the
/// same user can read: a handler, a shell call, an MCP server).
enum EnvironmentSecrets {
    private static let kept = Mutex<[String: String]>([:])

    /// This process's environment with every kept variable put back (for reading the configuration again).
    static func environment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in kept.withLock({ $0 }) where environment[name] == nil { environment[name] = value }
        return environment
    }

    /// Keeps `name`'s value and wipes it from the environment (its bytes zeroed in place, then unset).
    static func keepAndWipe(_ name: String) {
        guard let raw = getenv(name) else { return }
        let value = String(cString: raw)
        kept.withLock { $0[name] = value }
        let prefix = Array("\(name)=".utf8)
        var entry = environ
        while let pointer = entry.pointee {
            if strncmp(pointer, prefix.map { CChar(bitPattern: $0) } + [0], prefix.count) == 0 {
                let length = strlen(pointer)
                memset(pointer + prefix.count, 0, length - prefix.count)
            }
            entry += 1
        }
        unsetenv(name)
    }
}
