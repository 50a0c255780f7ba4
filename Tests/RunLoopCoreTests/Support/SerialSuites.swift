import Testing

/// The suites of the second round of hardening, the Responses call kinds, conversations, stateless servers and
/// approvals, one test at a time: each holds a fake server, an HTTP client and often a child process, and with the
/// rest of the test process running beside them they would take it past the ~1,300 descriptors at which
/// Foundation's `Process.run()` can crash it.
@Suite("One at a time: Responses features, hardening, approvals", .serialized)
struct SerialSuites {}
