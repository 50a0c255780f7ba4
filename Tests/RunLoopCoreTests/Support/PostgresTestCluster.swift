import Foundation
import Journal
import PostgresJournal

/// The PostgreSQL cluster the PostgreSQL tests run against: `TOOLWORKER_TEST_POSTGRES_URL` when the test command
/// started one (scripts/test.sh does), else a throw-away cluster this test process starts itself with
/// scripts/postgres-cluster.sh and stops when it exits. Each test gets a database of its own.
enum PostgresTestCluster {
    /// The admin URL, or why PostgreSQL could not be started.
    static let admin: Result<String, ClusterUnavailable> = start()

    struct ClusterUnavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// For `.enabled(if:)`: whether the cluster is there (started off the cooperative pool when this process starts it).
    static func available() async -> Bool {
        _ = try? await adminURL()
        return isAvailable
    }

    static var isAvailable: Bool {
        if case .success = admin { return true }
        if case .failure(let reason) = admin {
            FileHandle.standardError.write(Data("PostgreSQL tests skipped: \(reason)\n".utf8))
        }
        return false
    }

    private static func start() -> Result<String, ClusterUnavailable> {
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["TOOLWORKER_TEST_POSTGRES_URL"], !url.isEmpty { return .success(url) }
        if environment["TOOLWORKER_TEST_NO_POSTGRES"] != nil {
            return .failure(ClusterUnavailable(description: "the test command could not start PostgreSQL (see its warning)"))
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/postgres-cluster.sh").path
        let directory = NSTemporaryDirectory() + "toolworker-pg-\(getpid())"
        // popen(3), not Foundation's Process: this runs inside a lazy static initialiser, where Process's reaping
        // of its child cannot be relied on.
        guard let pipe = popen("/bin/bash '\(script)' start '\(directory)'", "r") else {
            return .failure(ClusterUnavailable(description: "cannot run scripts/postgres-cluster.sh"))
        }
        var output = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil {
            output += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        guard pclose(pipe) == 0 else {
            return .failure(ClusterUnavailable(description: "scripts/postgres-cluster.sh could not start a cluster (is Debian's postgresql installed?)"))
        }
        ClusterShutdown.register(script: script, directory: directory)
        return .success(output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A new, empty database in the cluster; returns its URL. (`CREATE DATABASE` copies a template and can take
    /// a second under load: it runs off the cooperative pool.)
    static func makeDatabase() async throws -> String {
        let url = try await adminURL()
        return try await offPool {
            let name = "tw_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
            let connection = try PostgresConnection(url: url)
            try connection.executeScript("CREATE DATABASE \(name)")
            return url.replacingOccurrences(of: "/postgres", with: "/\(name)")
        }
    }

    /// ``admin``, first computed off the cooperative pool: without `TOOLWORKER_TEST_POSTGRES_URL` that runs initdb,
    /// and every test touching ``admin`` meanwhile would block a pool thread on its one-time initialisation.
    static func adminURL() async throws -> String {
        try await offPool { try admin.get() }
    }
}

/// Stops a cluster this process started, when the process exits.
enum ClusterShutdown {
    private static let command = Mutex<String?>(nil)

    static func register(script: String, directory: String) {
        command.withLock { $0 = "/bin/bash '\(script)' stop '\(directory)' >/dev/null 2>&1" }
        // At exit Foundation's Process can no longer reap its child (its monitoring thread is gone): plain system(3).
        atexit {
            guard let command = ClusterShutdown.command.withLock({ $0 }) else { return }
            _ = system(command)
        }
    }
}

import Synchronization
