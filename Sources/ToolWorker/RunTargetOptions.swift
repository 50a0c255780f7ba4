import ArgumentParser
import Foundation
import RunLoopCore

/// What to run, shared by `run` and `enqueue`: an assistant and a thread or a first message (Assistants), or a
/// model and a message (Responses).
struct RunTargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The protocol: \(Protocols.namesText) (default: the provider's, else api.protocol).")) var `protocol`: String?
    @Option(help: "The provider to send it to, by its name under providers: (default: the first one).") var provider: String?
    @Option(help: "The assistant to run (Assistants).") var assistant: String?
    @Option(help: "The model (Responses; default: model: in the configuration).") var model: String?
    @Option(help: "Run on this existing thread (Assistants; runs on one thread never overlap).") var thread: String?
    @Option(help: "Continue this conversation, or `new` to create one (Responses; runs on one conversation never overlap).")
    var conversation: String?
    @Option(help: "A user message to start with (a new thread when --thread is not given).") var message: String?
    @Option(help: "Instructions overriding the assistant's (Assistants) or the configuration's (Responses).") var instructions: String?
    @Option(help: "Run metadata as KEY=VALUE (repeatable).") var metadata: [String] = []
    @Option(help: "Tool rounds the run may take before it ends with max_rounds, 1 to 100000 (default: max_rounds).") var maxRounds: Int?
    @Option(help: "Responses: server (previous_response_id) or stateless (the whole input every request; default: api.state).")
    var state: String?
    @Option(help: "Responses: KEY=VALUE set on every request of the run (repeatable; VALUE is JSON, or a bare word): parallel_tool_calls, tool_choice, max_output_tokens, reasoning, include, temperature, top_p, truncation.")
    var requestOption: [String] = []
    @Option(help: "What the run (a job: all its attempts) may spend: tokens=N,cost=X,tool_calls=N,rounds=N,time=D (any of them), and on_reach=stop (the default: it ends budget_exceeded, nothing more is sent) or ask (it waits for toolworker approve, which extends every limit by its amount, or deny).")
    var budget: String?

    func validate() throws {
        if let budget {
            do { _ = try Budget(parsing: budget) } catch { throw ValidationError("--budget: \(error)") }
        }
        if let protocolName = `protocol`, Protocols.descriptor(protocolName) == nil {
            throw ValidationError("--protocol takes \(Protocols.namesText), not '\(protocolName)'")
        }
        if thread == nil && message == nil && conversation == nil {
            throw ValidationError("give --thread ID or --message TEXT (or both; Responses: --conversation ID instead of --thread)")
        }
        if let conversation, conversation.allSatisfy(\.isWhitespace) { throw ValidationError("--conversation is empty") }
        if thread != nil && conversation != nil { throw ValidationError("--thread is for the Assistants protocol, --conversation for Responses: give one") }
        if let assistant, assistant.allSatisfy(\.isWhitespace) { throw ValidationError("--assistant is empty") }
        if let model, model.allSatisfy(\.isWhitespace) { throw ValidationError("--model is empty") }
        if let provider, provider.allSatisfy(\.isWhitespace) { throw ValidationError("--provider is empty") }
        if let maxRounds, !(1...100_000).contains(maxRounds) { throw ValidationError("--max-rounds takes 1 to 100000, not \(maxRounds)") }
        for pair in requestOption {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, RequestOptions.allowed.contains(parts[0]) else {
                throw ValidationError("--request-option takes KEY=VALUE with KEY one of \(RequestOptions.allowed.joined(separator: ", ")), not '\(pair)'")
            }
        }
        if let state, ConversationState(rawValue: state) == nil { throw ValidationError("--state takes server or stateless, not '\(state)'") }
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

    /// The request, with the protocol and model the configuration gives by default.
    /// - Throws: a usage failure when the protocol's required options are missing.
    func request(_ config: ToolWorkerConfig) throws -> RunRequest {
        guard let chosen = config.provider(named: provider) else {
            throw CommandFailure(
                message: "--provider: no provider is called '\(provider ?? "")' (providers: \(config.effectiveProviders.map(\.name).joined(separator: ", ")))",
                code: ExitStatus.usage)
        }
        let protocolName = `protocol` ?? chosen.protocolName
        guard let descriptor = Protocols.descriptor(protocolName) else {
            throw CommandFailure(message: "protocol \(protocolName) is not one this build speaks (\(Protocols.namesText))", code: ExitStatus.usage)
        }
        for (option, given, container) in [("--thread", thread != nil, "thread"), ("--conversation", conversation != nil, "conversation")]
        where given && descriptor.containerName != container {
            throw CommandFailure(
                message: "\(option) is for the \(Protocols.using(container: container)) protocol (\(descriptor.displayName) takes --\(descriptor.containerName))",
                code: ExitStatus.usage)
        }
        var request = RunRequest(
            assistantID: assistant ?? "", threadID: thread ?? (conversation == "new" ? nil : conversation), message: message, instructions: instructions, metadata: metadataPairs,
            protocolName: protocolName, model: chosen.resolve(model: model ?? (descriptor.needsModel ? config.model : nil)), maxRounds: maxRounds,
            conversationState: state.flatMap(ConversationState.init(rawValue:)))
        request.provider = provider
        let named = model ?? (descriptor.needsModel ? config.model : nil)
        // An alias is kept as given too: a fallback provider resolves it its own way.
        if let named, config.effectiveProviders.contains(where: { $0.modelAliases[named] != nil }) { request.modelAlias = named }
        request.requestOptions = requestOptionsObject
        request.budget = try budget.map { try Budget(parsing: $0) }
        if let refusal = descriptor.check(request) { throw CommandFailure(message: refusal, code: ExitStatus.usage) }
        return request
    }

    /// The client settings of `request`'s provider among `clients` (the default one first).
    func client(of request: RunRequest, _ clients: [ProviderClient]) throws -> OpenAIClientConfiguration {
        guard let name = request.provider else { return clients[0].configuration }
        guard let client = clients.first(where: { $0.provider.name == name }) else {
            throw CommandFailure(message: "--provider: no provider is called '\(name)'", code: ExitStatus.usage)
        }
        return client.configuration
    }

    /// `--request-option` pairs: a value that is not JSON (`required`) is a string.
    var requestOptionsObject: JSONObject {
        var options: JSONObject = [:]
        for pair in requestOption {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            options[parts[0]] = (try? JSONValue(parsing: parts[1])) ?? .string(parts[1])
        }
        return options
    }

    /// The request with `--conversation new` made real: a conversation created on the server (`POST /conversations`),
    /// its id on standard error, so a script can continue it.
    func resolvingNewConversation(_ request: RunRequest, _ clientConfiguration: (RunRequest) throws -> OpenAIClientConfiguration) async throws -> RunRequest {
        guard conversation == "new" else { return request }
        var request = request
        do {
            request.threadID = try await ResponsesClient(configuration: try clientConfiguration(request)).createConversation()
        } catch let error as OpenAIClientError {
            throw CommandFailure(message: "could not create a conversation: \(error)", code: ExitStatus.error)
        }
        FileHandle.standardError.write(Data("conversation: \(request.threadID ?? "")\n".utf8))
        return request
    }
}
