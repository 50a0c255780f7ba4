/// What a source offered when it was listed: the tools, and every tool or server it left out, in words.
public struct ToolListing: Sendable {
    public var executors: [any ToolExecutor] = []
    public var problems: [String] = []

    public init(executors: [any ToolExecutor] = [], problems: [String] = []) {
        self.executors = executors
        self.problems = problems
    }
}
