import WorkModel

/// What the rest of ToolWorker knows about a wire protocol, registered by its backend: the command line, the
/// scheduler and the output name nothing else of it. The executable lists the registered descriptors in one place.
public struct ProtocolDescriptor: Sendable {
    /// The protocol's name in configuration (`api.protocol`), on the command line (`--protocol`) and in the journal.
    public let name: String
    /// Its name in messages (`Assistants`, `Responses`).
    public let displayName: String
    /// What its container is called (`thread`, `conversation`): the command line's option for it and its output.
    public let containerName: String
    /// Whether a loop started without a container gets one first that keeps what was posted to it (an Assistants
    /// thread): a job retried after its message was posted does not post it again.
    public let preparesContainer: Bool
    /// Whether a request names a model (by default the configuration's `model:`); otherwise the server's object
    /// (an assistant) names it.
    public let needsModel: Bool
    /// Why a request cannot be run with this protocol, in the command line's words (`nil` when it can).
    public let check: @Sendable (RunRequest) -> String?
    /// What a loop's stored frames produce when accumulated again (``ToolLoopBackend/rebuild(_:)``, without a
    /// client): `toolworker verify` and `replay` use it.
    public let rebuild: @Sendable ([StoredFrame]) -> RebuiltLoop

    public init(
        name: String, displayName: String, containerName: String, preparesContainer: Bool, needsModel: Bool,
        rebuild: @escaping @Sendable ([StoredFrame]) -> RebuiltLoop = { _ in RebuiltLoop() },
        check: @escaping @Sendable (RunRequest) -> String?
    ) {
        self.rebuild = rebuild
        self.name = name
        self.displayName = displayName
        self.containerName = containerName
        self.preparesContainer = preparesContainer
        self.needsModel = needsModel
        self.check = check
    }
}
