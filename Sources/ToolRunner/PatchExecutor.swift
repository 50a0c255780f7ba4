import Foundation
import Synchronization
import WireFormat
import WorkModel

/// The workspace the configuration lets the model edit (`apply_patch:`).
public struct ApplyPatchConfig: Sendable, Equatable {
    /// Every path is inside it: no absolute path, no `..`, no symlink on the way, no symlink as the target.
    public var workspaceRoot: String
    /// `on_restart` (an update applied twice does not match the second time: a call interrupted by a crash is
    /// answered "interrupted") and `approval`; a patch runs in the daemon, so no time-out, output cap or sandbox.
    public var policy = ToolPolicy(onRestart: .fail, keys: [.onRestart, .approval])
    /// `max_file_bytes`: the largest file an update reads (an update holds a few times its size in memory).
    public var maxFileBytes = 16 << 20

    public init(workspaceRoot: String) {
        self.workspaceRoot = workspaceRoot
    }

    // The policy's settings, read and written in place.
    public var onRestart: RestartPolicy { get { policy.onRestart } set { policy.onRestart = newValue } }
    public var approval: ApprovalRule { get { policy.approval } set { policy.approval = newValue } }
}

/// Applies a model's `apply_patch_call` operations (create, update with a V4A diff, delete) inside the workspace
/// root, each atomically (a new file written beside the target, then renamed over it, mode and owner kept), one at a
/// time per workspace, every path resolved through folder descriptors (``WorkspaceFiles``). Registered only when
/// the configuration has an `apply_patch:` section.
public struct PatchExecutor: ToolExecutor {
    public let configuration: ApplyPatchConfig

    public init(_ configuration: ApplyPatchConfig) {
        self.configuration = configuration
    }

    public var definition: ToolDefinition {
        ToolDefinition(name: ToolKind.applyPatch.rawValue, description: "Edits files under \(configuration.workspaceRoot)", kind: .applyPatch)
    }

    public var policy: ToolPolicy { configuration.policy }

    public var handlerDescription: String { "apply_patch in \(configuration.workspaceRoot)" }

    public var listingDetails: JSONObject { ["workspace_root": .string(configuration.workspaceRoot)] }

    public func execute(_ call: ToolCall, arguments: String, execution: ToolExecution) async throws(CancellationError) -> ToolCallOutcome {
        let started = unixMilliseconds()
        let files = WorkspaceFiles(root: configuration.workspaceRoot, maxFileBytes: configuration.maxFileBytes)
        let work: @Sendable () -> (status: String, message: String) = { Self.apply(arguments, in: files) }
        // One operation at a time per workspace (several updates of one file in a round each see the one before:
        // none is lost), on a thread of its own (a large file never holds a thread other runs need).
        let lock = Self.lock(for: configuration.workspaceRoot)
        let result: (status: String, message: String)
        do {
            result = try await lock.withPermit { await Self.offPool(work) }
        } catch {
            throw CancellationError()
        }
        return ToolCallOutcome(
            state: result.status == "completed" ? .succeeded : .failed,
            output: JSONValue.object(["status": .string(result.status), "output": .string(result.message)]).serialized(), outputTruncated: false,
            exitCode: nil, startedAt: started, finishedAt: unixMilliseconds())
    }

    /// One operation (`create_file`, `update_file`, `delete_file`), answered `completed` or `failed` with words.
    static func apply(_ arguments: String, in files: WorkspaceFiles) -> (status: String, message: String) {
        guard let operation = (try? JSONValue(parsing: arguments))?.objectValue, let type = operation["type"]?.stringValue,
            let path = operation["path"]?.stringValue
        else {
            return ("failed", "The operation is not an object with a type and a path.")
        }
        do {
            switch type {
            case "create_file":
                let content = try V4ADiff.created(operation["diff"]?.stringValue ?? "")
                let place = try files.place(of: path, creating: true)
                try files.write(content, to: place, keeping: nil)
                return ("completed", "Created \(path)")
            case "update_file":
                let place = try files.place(of: path, creating: false)
                let (original, status) = try files.read(place, path: path)
                let content = try V4ADiff.applied(operation["diff"]?.stringValue ?? "", to: original)
                try files.write(content, to: place, keeping: status)
                return ("completed", "Updated \(path)")
            case "delete_file":
                let place = try files.place(of: path, creating: false)
                try files.remove(place, path: path)
                return ("completed", "Deleted \(path)")
            default:
                return ("failed", "Unknown operation '\(type)': expected create_file, update_file or delete_file.")
            }
        } catch let failure as V4ADiff.Failure {
            return ("failed", "\(path): \(failure.message); the file was not changed.")
        } catch let refusal as WorkspaceFiles.Refusal {
            return ("failed", refusal.description)
        } catch {
            return ("failed", "\(path): \(error); the file was not changed.")
        }
    }

    private static let locks = Mutex<[String: AsyncSemaphore]>([:])

    /// The lock of one workspace (made on first use, kept for the process's life: one per configured root).
    static func lock(for root: String) -> AsyncSemaphore {
        locks.withLock { locks in
            if let lock = locks[root] { return lock }
            let lock = AsyncSemaphore(1)
            locks[root] = lock
            return lock
        }
    }

    /// Runs `body` on a thread of its own and waits for it without holding a thread of the cooperative pool.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 4 << 20
            thread.start()
        }
    }
}
