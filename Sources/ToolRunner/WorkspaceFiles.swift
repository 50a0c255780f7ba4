import Foundation

/// The files of an `apply_patch` workspace, reached only through directory descriptors: every folder on the way is
/// opened with `O_NOFOLLOW` from the one before it, and the file is read, written (a temporary beside it, then
/// `renameat`) or removed relative to its folder's descriptor. A folder swapped for a symbolic link after the walk
/// (a concurrent shell call) changes nothing: the descriptor is the folder that was checked.
struct WorkspaceFiles {
    let root: String
    /// The largest file an update reads (`apply_patch.max_file_bytes`).
    let maxFileBytes: Int

    /// Why an operation could not be done, in words for the model.
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// A file's folder, open, and the file's name in it.
    struct Place: ~Copyable {
        let folder: Int32
        let name: String
        deinit { close(folder) }
    }

    /// The folder of `path` (relative, no `..`), opened component by component without following links;
    /// `creating` makes missing folders (0755).
    func place(of path: String, creating: Bool) throws(Refusal) -> Place {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\0") else {
            throw Refusal(description: "'\(path)' must be a path relative to the workspace: nothing was changed.")
        }
        var parts = path.split(separator: "/").map(String.init).filter { $0 != "." && !$0.isEmpty }
        guard !parts.isEmpty, !parts.contains("..") else {
            throw Refusal(description: "'\(path)' leaves the workspace ('..'): nothing was changed.")
        }
        let name = parts.removeLast()
        guard name.utf8.count <= 255 else { throw Refusal(description: "'\(path)': the file name is longer than 255 bytes: nothing was changed.") }
        var folder = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { throw Refusal(description: "the workspace \(root) cannot be opened: \(String(cString: strerror(errno)))") }
        for part in parts {
            var next = openat(folder, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && creating {
                if mkdirat(folder, part, 0o755) != 0 && errno != EEXIST {
                    let reason = String(cString: strerror(errno))
                    close(folder)
                    throw Refusal(description: "'\(path)': cannot create the folder \(part): \(reason); nothing was changed.")
                }
                next = openat(folder, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let failure = errno
            close(folder)
            guard next >= 0 else {
                if failure == ELOOP || failure == ENOTDIR {
                    throw Refusal(description: "'\(path)' goes through a symbolic link or a file (\(part)): nothing was changed.")
                }
                throw Refusal(description: "'\(path)': \(part): \(String(cString: strerror(failure))); nothing was changed.")
            }
            folder = next
        }
        return Place(folder: folder, name: name)
    }

    /// The file's bytes (UTF-8 text) and its status (mode, owner); refused when it is a link, not a regular file,
    /// too large, or not UTF-8.
    func read(_ place: borrowing Place, path: String) throws(Refusal) -> (bytes: [UInt8], status: stat) {
        let fd = openat(place.folder, place.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw Refusal(description: errno == ELOOP
                ? "'\(path)' is a symbolic link: nothing was changed."
                : "\(path) does not exist or cannot be read (\(String(cString: strerror(errno)))): nothing was changed.")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw Refusal(description: "\(path) is not a regular file: nothing was changed.")
        }
        guard Int(status.st_size) <= maxFileBytes else {
            throw Refusal(description: "\(path) is \(status.st_size) bytes, over the \(maxFileBytes) bytes an update may read (apply_patch.max_file_bytes): nothing was changed.")
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            offset += count
        }
        bytes.removeSubrange(offset...)
        guard Self.isUTF8(bytes) else {
            throw Refusal(description: "\(path) is not UTF-8 text: nothing was changed.")
        }
        return (bytes, status)
    }

    /// Whether the name is taken in its folder (by anything, a link too).
    func exists(_ place: borrowing Place) -> Bool {
        var status = stat()
        return fstatat(place.folder, place.name, &status, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// `content` to the file through a temporary file beside it (a short name of its own, whatever the file's
    /// length) and `renameat`: readers see the old file or the new. With `keeping`, the new file gets the old one's
    /// mode and, where this process may, its owner.
    func write(_ content: String, to place: borrowing Place, keeping status: stat?) throws(Refusal) {
        try write(Array(content.utf8), to: place, keeping: status)
    }

    /// `content` to the file (see the `String` variant).
    func write(_ content: [UInt8], to place: borrowing Place, keeping status: stat?) throws(Refusal) {
        let temporary = ".toolworker-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        let mode = status.map { mode_t($0.st_mode & 0o7777) } ?? 0o644
        let fd = openat(place.folder, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Refusal(description: "cannot create a file beside \(place.name): \(String(cString: strerror(errno)))") }
        var failure: Int32 = 0
        content.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = n < 0 ? errno : EIO; break }
                offset += n
            }
        }
        if failure == 0, let status { _ = fchown(fd, status.st_uid, status.st_gid) }
        if failure == 0 && fchmod(fd, mode) != 0 { failure = errno }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0, renameat(place.folder, temporary, place.folder, place.name) == 0 else {
            let code = failure != 0 ? failure : errno
            unlinkat(place.folder, temporary, 0)
            throw Refusal(description: "\(place.name) could not be written: \(String(cString: strerror(code)))")
        }
    }

    /// Removes the file (a regular file only, never a link or a folder).
    func remove(_ place: borrowing Place, path: String) throws(Refusal) {
        var status = stat()
        guard fstatat(place.folder, place.name, &status, AT_SYMLINK_NOFOLLOW) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw Refusal(description: "\(path) is not a file: nothing was deleted.")
        }
        guard unlinkat(place.folder, place.name, 0) == 0 else {
            throw Refusal(description: "\(path) could not be deleted: \(String(cString: strerror(errno)))")
        }
    }

    /// Whether `bytes` are well-formed UTF-8 (checked in place, without a copy).
    static func isUTF8(_ bytes: [UInt8]) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
