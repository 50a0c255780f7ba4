import Foundation
import WireFormat
import WorkModel

/// The workspace the configuration lets the model edit (`apply_patch:`).
public struct ApplyPatchConfig: Sendable, Equatable {
    /// Every path is inside it: no absolute path, no `..`, no symlink on the way, no symlink as the target.
    public var workspaceRoot: String
    /// An update applied twice does not match the second time: a call interrupted by a crash is answered
    /// "interrupted" by default.
    public var onRestart: RestartPolicy = .fail
    /// When the model's edits wait for a person's word.
    public var approval: ApprovalRule = .never

    public init(workspaceRoot: String) {
        self.workspaceRoot = workspaceRoot
    }
}

/// Applies a model's `apply_patch_call` operations (create, update with a V4A diff, delete) inside the workspace
/// root, each atomically (a new file written beside the target, then renamed over it). Registered only when the
/// configuration has an `apply_patch:` section.
public struct PatchExecutor: ToolExecutor {
    public let configuration: ApplyPatchConfig

    public init(_ configuration: ApplyPatchConfig) {
        self.configuration = configuration
    }

    public var definition: ToolDefinition {
        ToolDefinition(name: ToolKind.applyPatch.rawValue, description: "Edits files under \(configuration.workspaceRoot)", kind: .applyPatch)
    }

    public var onRestart: RestartPolicy { configuration.onRestart }

    public var approval: ApprovalRule { configuration.approval }

    public var handlerDescription: String { "apply_patch in \(configuration.workspaceRoot)" }

    public func execute(_ call: ToolCall, arguments: String, execution: ToolExecution) async throws(CancellationError) -> ToolCallOutcome {
        let started = unixMilliseconds()
        func answer(_ status: String, _ message: String) -> ToolCallOutcome {
            ToolCallOutcome(
                state: status == "completed" ? .succeeded : .failed,
                output: JSONValue.object(["status": .string(status), "output": .string(message)]).serialized(), outputTruncated: false,
                exitCode: nil, startedAt: started, finishedAt: unixMilliseconds())
        }
        guard let operation = (try? JSONValue(parsing: arguments))?.objectValue, let type = operation["type"]?.stringValue,
            let path = operation["path"]?.stringValue
        else {
            return answer("failed", "The operation is not an object with a type and a path.")
        }
        let target: URL
        do {
            target = try Self.confined(path, to: configuration.workspaceRoot)
        } catch {
            return answer("failed", "\(error)")
        }
        do {
            switch type {
            case "create_file":
                let content = try V4ADiff.created(operation["diff"]?.stringValue ?? "")
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Self.writeAtomically(content, to: target)
                return answer("completed", "Created \(path)")
            case "update_file":
                guard let original = try? String(contentsOf: target, encoding: .utf8) else {
                    return answer("failed", "\(path) does not exist or is not UTF-8 text: nothing was changed.")
                }
                let content = try V4ADiff.applied(operation["diff"]?.stringValue ?? "", to: original)
                try Self.writeAtomically(content, to: target)
                return answer("completed", "Updated \(path)")
            case "delete_file":
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: target.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                    return answer("failed", "\(path) is not a file: nothing was deleted.")
                }
                try FileManager.default.removeItem(at: target)
                return answer("completed", "Deleted \(path)")
            default:
                return answer("failed", "Unknown operation '\(type)': expected create_file, update_file or delete_file.")
            }
        } catch let failure as V4ADiff.Failure {
            return answer("failed", "\(path): \(failure.message); the file was not changed.")
        } catch {
            return answer("failed", "\(path): \(error.localizedDescription); the file was not changed.")
        }
    }

    /// Why a path may not be written.
    struct Escape: Error, CustomStringConvertible {
        let description: String
    }

    /// `path` inside `root`: relative, without `..`, no symlink in any folder on the way or as the file itself.
    static func confined(_ path: String, to root: String) throws -> URL {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\0") else {
            throw Escape(description: "'\(path)' must be a path relative to the workspace: nothing was changed.")
        }
        let parts = path.split(separator: "/").map(String.init).filter { $0 != "." && !$0.isEmpty }
        guard !parts.isEmpty, !parts.contains("..") else {
            throw Escape(description: "'\(path)' leaves the workspace ('..'): nothing was changed.")
        }
        var current = URL(fileURLWithPath: root).resolvingSymlinksInPath()
        for part in parts {
            current.appendPathComponent(part)
            var info = stat()
            if lstat(current.path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
                throw Escape(description: "'\(path)' goes through a symbolic link (\(part)): nothing was changed.")
            }
        }
        return current
    }

    /// `content` to `target` through a temporary file beside it and a rename: readers see the old file or the new.
    static func writeAtomically(_ content: String, to target: URL) throws {
        let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).toolworker-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var bytes = Array(content.utf8)
        var offset = 0
        var failure: Int32 = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = n < 0 ? errno : EIO; break }
            offset += n
        }
        bytes.removeAll()
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0, rename(temporary.path, target.path) == 0 else {
            let code = failure != 0 ? failure : errno
            unlink(temporary.path)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
    }
}
