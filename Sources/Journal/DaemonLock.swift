import WireFormat
import WorkModel
import Foundation

/// An exclusive lock held for a daemon's lifetime, so two `serve` processes never drive the same SQLite journal
/// (each would resume the other's runs and run their tool calls twice).
///
/// Two `flock(2)` locks, both released by the kernel when the process dies (SIGKILL included), so a crash never
/// leaves a stale lock: one on a file beside the database (`<database>.serve-lock`, which also holds the pid for
/// `status`), and one on the database file itself, which is what makes it one daemon per *file*: a second path to
/// the same file (a symlink, a hard link, a bind mount) reaches the same inode and finds it held. (`flock` locks are
/// separate from the POSIX record locks SQLite takes; the descriptor stays open for the lock's lifetime, since
/// closing any descriptor of the file would drop SQLite's own locks in this process.) Commands other than `serve`
/// do not take them.
public final class DaemonLock: Sendable {
    /// Another process holds the lock.
    public struct HeldElsewhere: Error, Sendable, CustomStringConvertible {
        public let lockPath: String
        /// The pid the holder wrote into the lock file, when readable.
        public let holder: String?
        public var description: String {
            "another toolworker serve (pid \(holder ?? "unknown")) is already using this database; lock \(lockPath) is held"
        }
    }

    public let path: String
    private let descriptor: Int32
    /// Open on the database file itself, holding the lock on its identity.
    private let databaseDescriptor: Int32

    /// Takes the lock for `database`, without waiting.
    /// - Throws: ``HeldElsewhere`` when another process holds it; `POSIXError` when the lock file cannot be opened.
    public init(database: String) throws {
        path = database + ".serve-lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(fd, &buffer, buffer.count)
            Glibc.close(fd)
            if failure == EWOULDBLOCK {
                let text = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : nil
                throw HeldElsewhere(lockPath: path, holder: text)
            }
            throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)
        }
        let database = open(database, O_RDONLY | O_CLOEXEC)
        guard database >= 0 else {
            let failure = errno
            Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)
        }
        guard flock(database, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            Glibc.close(database)
            Glibc.close(fd)
            if failure == EWOULDBLOCK {
                throw HeldElsewhere(lockPath: "the database file (reached through another path: a symlink or hard link)", holder: nil)
            }
            throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)
        }
        databaseDescriptor = database
        descriptor = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// The pid of the `serve` holding the lock on `database`, or `nil` when none does (probed without waiting,
    /// with a shared lock that is released at once).
    public static func holder(database: String) -> String? {
        let file = open(database, O_RDONLY | O_CLOEXEC)
        if file >= 0 {
            defer { Glibc.close(file) }
            if flock(file, LOCK_SH | LOCK_NB) == 0 {
                flock(file, LOCK_UN)
            } else if errno == EWOULDBLOCK, lockFileHolder(database: database) == nil {
                return "unknown"  // held through another path to the same file
            }
        }
        return lockFileHolder(database: database)
    }

    private static func lockFileHolder(database: String) -> String? {
        let path = database + ".serve-lock"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = read(fd, &buffer, buffer.count)
        let text = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return text.isEmpty ? "unknown" : text
    }

    deinit {
        Glibc.close(databaseDescriptor)
        Glibc.close(descriptor)
    }
}
