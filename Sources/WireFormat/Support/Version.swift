/// The version ToolWorker reports (`--version`, the `User-Agent` header).
public enum ToolWorkerVersion {
    public static let string = "0.1.0"
}
