// RunLoopCore is the umbrella the `toolworker` executable imports: every layer of the library, re-exported.
// The layers and their dependency arrows are in docs/ARCHITECTURE.md; each is a target of its own, so no layer can
// reach one above it.
@_exported import AssistantsAPI
@_exported import OpenAIClient
@_exported import AssistantsBackend
@_exported import BackendSupport
@_exported import AssistantsProtocol
@_exported import Configuration
@_exported import HTTPTransport
@_exported import Journal
@_exported import Operations
@_exported import PostgresJournal
@_exported import ResponsesAPI
@_exported import ResponsesBackend
@_exported import ResponsesProtocol
@_exported import ToolRunner
@_exported import WireFormat
@_exported import WorkModel
@_exported import Worker
@_exported import MCPTools
@_exported import Telemetry
@_exported import Console
