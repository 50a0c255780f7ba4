import ArgumentParser
import RunLoopCore

/// What to run, shared by `run` and `enqueue`: an assistant and a thread or a first message.
struct RunTargetOptions: ParsableArguments {
    @Option(help: "The assistant to run.") var assistant: String
    @Option(help: "Run on this existing thread (runs on one thread never overlap).") var thread: String?
    @Option(help: "A user message to start with (a new thread when --thread is not given).") var message: String?
    @Option(help: "Instructions overriding the assistant's.") var instructions: String?
    @Option(help: "Run metadata as KEY=VALUE (repeatable).") var metadata: [String] = []

    func validate() throws {
        if thread == nil && message == nil { throw ValidationError("give --thread ID or --message TEXT (or both)") }
        if assistant.allSatisfy(\.isWhitespace) { throw ValidationError("--assistant is empty") }
        if let thread, thread.allSatisfy(\.isWhitespace) { throw ValidationError("--thread is empty") }
        if let message, message.allSatisfy(\.isWhitespace) { throw ValidationError("--message is empty") }
        for pair in metadata where !pair.contains("=") || pair.hasPrefix("=") {
            throw ValidationError("--metadata takes KEY=VALUE, not '\(pair)'")
        }
        for (key, value) in metadataPairs {
            if key.hasPrefix("toolworker_") {
                throw ValidationError("--metadata key '\(key)': keys starting with toolworker_ are ToolWorker's own")
            }
            if key.count > 64 { throw ValidationError("--metadata key '\(key.prefix(20))…' is longer than the API's 64 characters") }
            if value.count > 512 { throw ValidationError("--metadata value of '\(key)' is longer than the API's 512 characters") }
        }
        if metadata.count > 14 {
            throw ValidationError("at most 14 --metadata pairs (the API takes 16; ToolWorker adds toolworker_run and toolworker_job)")
        }
    }

    /// `--metadata` as a dictionary (a repeated key keeps its last value).
    var metadataPairs: [String: String] {
        var pairs: [String: String] = [:]
        for pair in metadata {
            let parts = pair.split(separator: "=", maxSplits: 1)
            pairs[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return pairs
    }

    var request: RunRequest {
        RunRequest(assistantID: assistant, threadID: thread, message: message, instructions: instructions, metadata: metadataPairs)
    }
}
