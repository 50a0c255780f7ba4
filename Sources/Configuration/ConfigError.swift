import OpenAIClient
import ToolRunner
import WorkModel
import WireFormat
/// One thing wrong with a configuration file: where (key path and line) and what.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// Dotted key path, for example `tools.get_weather.timeout`.
    public let path: String
    public let line: Int?
    public let message: String

    public var description: String {
        (line.map { "line \($0): " } ?? "") + (path.isEmpty ? "" : "\(path): ") + message
    }
}

/// A configuration that cannot be used, with every problem found (not just the first).
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let problems: [ConfigProblem]

    public var description: String {
        "invalid configuration \(file):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
