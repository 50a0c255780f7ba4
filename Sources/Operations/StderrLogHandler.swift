import Foundation
import Logging
import Synchronization
import WireFormat

/// `log.format`: one line per message as text (the default; journald priority prefixes under systemd), or one
/// JSON object per line for log shippers.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// Logs one line per message to stderr: with journald priority prefixes (`<3>` … `<7>`) when stderr is the
/// journal (`$JOURNAL_STREAM` names it), else with a readable level word; or, with ``LogFormat/json``, one JSON
/// object per line (`level`, `message`, then the metadata fields; under systemd still with the priority prefix).
/// Newlines in messages are escaped so one message stays one journal entry. Never give it secrets: nothing here
/// redacts.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let journal: Bool
    private let format: LogFormat

    public init(label: String, format: LogFormat = .text, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.label = label
        self.format = format
        self.journal = StderrLogHandler.stderrIsJournal(environment)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func stderrIsJournal(_ environment: [String: String]) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if format == .json {
            var object: JSONObject = ["level": .string(event.level.rawValue), "message": .string("\(event.message)")]
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) where object[key] == nil { object[key] = .string("\(value)") }
            let prefix = journal ? "<\(Self.priority(event.level))>" : ""
            FileHandle.standardError.write(Data((prefix + JSONValue.object(object).serialized() + "\n").utf8))
            return
        }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quote("\($0.value)"))" }.joined(separator: " ")
        let text = ControlCharacters.escaped("\(event.message)")
        let line: String
        if journal {
            line = "<\(Self.priority(event.level))>\(text)\(fields.isEmpty ? "" : " " + fields)\n"
        } else {
            line = "\(event.level.rawValue.uppercased()) \(text)\(fields.isEmpty ? "" : " " + fields)\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func quote(_ value: String) -> String {
        let escaped = ControlCharacters.escaped(value)
        return escaped.contains(" ") || escaped.isEmpty ? "\"\(escaped.replacingOccurrences(of: "\"", with: "\\\""))\"" : escaped
    }
}
