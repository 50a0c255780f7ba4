import Logging
import RunLoopCore

/// The protocols this build speaks: the one place a protocol is registered. Everything the command line says
/// about protocols (`--protocol`, the container options, the output) comes from these descriptors.
enum Protocols {
    static let registered: [ProtocolDescriptor] = [AssistantsBackend.descriptor, ResponsesBackend.descriptor]

    /// The registered protocol called `name`.
    static func descriptor(_ name: String) -> ProtocolDescriptor? { registered.first { $0.name == name } }

    /// `assistants or responses`.
    static var namesText: String { registered.map(\.name).joined(separator: " or ") }

    /// The display names of the protocols whose container is called `container` (`Assistants`).
    static func using(container: String) -> String {
        registered.filter { $0.containerName == container }.map(\.displayName).joined(separator: " or ")
    }

    /// A backend of every registered protocol for `provider`, over one HTTP client (one libcurl loop thread, one
    /// connection cache).
    static func backends(
        _ config: ToolWorkerConfig, _ provider: Provider, _ clientConfiguration: OpenAIClientConfiguration, logger: Logger
    ) -> [any ToolLoopBackend] {
        let http = HTTPClient(configuration: clientConfiguration.http)
        return [
            AssistantsBackend(client: AssistantsClient(configuration: clientConfiguration, http: http, logger: logger)),
            ResponsesBackend(
                client: ResponsesClient(configuration: clientConfiguration, http: http, logger: logger),
                defaultModel: provider.resolve(model: config.model), defaultInstructions: config.instructions, defaultState: provider.state,
                defaultRequestOptions: config.requestOptions),
        ]
    }
}
