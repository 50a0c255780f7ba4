import Logging
import RunLoopCore

/// Before the first call: the control groups a dead daemon's calls left (with what still runs in them) are swept.
func sweepStaleSandboxes(_ config: ToolWorkerConfig, logger: Logger) {
    guard let host = config.sandboxHost else { return }
    let swept = host.sweepStaleCalls()
    if swept > 0 { logger.notice("killed what calls of a stopped daemon left running in their sandboxes", metadata: ["groups": "\(swept)"]) }
}
