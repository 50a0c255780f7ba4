/// The V4A diff of the Responses API's `apply_patch` operations: a new file's lines each prefixed `+`; an update as
/// hunks, each optionally located by `@@ anchor` lines, then context (` `), removed (`-`) and added (`+`) lines, and
/// `*** End of File` to pin a hunk to the end.
public enum V4ADiff {
    /// Why a diff could not be applied.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    struct Hunk {
        var anchors: [String] = []
        var old: [String] = []
        var new: [String] = []
        var atEnd = false
        var isEmpty: Bool { old.isEmpty && new.isEmpty }
    }

    /// The content of a new file: every line of `diff` with its `+` removed.
    public static func created(_ diff: String) throws(Failure) -> String {
        var lines: [String] = []
        for line in split(diff) where !isMarker(line) {
            guard line.hasPrefix("+") else { throw Failure(message: "a new file's diff has a line that does not start with '+': \(line.prefix(60))") }
            lines.append(String(line.dropFirst()))
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// `original` with every hunk of `diff` applied in order; each must match where the one before ended or later.
    public static func applied(_ diff: String, to original: String) throws(Failure) -> String {
        let hadFinalNewline = original.hasSuffix("\n")
        var file = original.isEmpty ? [] : split(original)
        let hunks = try parse(diff)
        guard !hunks.isEmpty else { throw Failure(message: "the diff has no hunk") }
        var cursor = 0
        for (number, hunk) in hunks.enumerated() {
            var start = cursor
            for anchor in hunk.anchors {
                let trimmed = anchor.trimmingWhitespace
                guard let found = file[start...].firstIndex(where: { $0.trimmingWhitespace == trimmed }) else {
                    throw Failure(message: "hunk \(number + 1): its anchor '\(anchor.prefix(60))' is not in the file")
                }
                start = found + 1
            }
            guard let at = match(hunk, in: file, from: start) else {
                throw Failure(message: "hunk \(number + 1) does not match the file (its context and removed lines are not there)")
            }
            file.replaceSubrange(at..<(at + hunk.old.count), with: hunk.new)
            cursor = at + hunk.new.count
        }
        guard !file.isEmpty else { return "" }
        return file.joined(separator: "\n") + (hadFinalNewline || original.isEmpty ? "\n" : "")
    }

    static func parse(_ diff: String) throws(Failure) -> [Hunk] {
        var hunks: [Hunk] = []
        var current = Hunk()
        var inBody = false
        for line in split(diff) {
            if isMarker(line) { continue }
            if line == "*** End of File" {
                current.atEnd = true
                continue
            }
            if line.hasPrefix("@@") {
                if inBody, !current.isEmpty {
                    hunks.append(current)
                    current = Hunk()
                }
                inBody = false
                let anchor = line.dropFirst(2).trimmingWhitespace
                if !anchor.isEmpty { current.anchors.append(anchor) }
                continue
            }
            inBody = true
            switch line.first {
            case "+": current.new.append(String(line.dropFirst()))
            case "-": current.old.append(String(line.dropFirst()))
            case " ":
                current.old.append(String(line.dropFirst()))
                current.new.append(String(line.dropFirst()))
            case nil:
                current.old.append("")
                current.new.append("")
            default:
                throw Failure(message: "a diff line starts with neither ' ', '-', '+' nor '@@': \(line.prefix(60))")
            }
        }
        if !current.isEmpty { hunks.append(current) }
        return hunks
    }

    /// Where `hunk.old` stands in `file` at or after `start`: exactly, else ignoring trailing white space.
    static func match(_ hunk: Hunk, in file: [String], from start: Int) -> Int? {
        let count = hunk.old.count
        guard start + count <= file.count else { return hunk.old.isEmpty ? file.count : nil }
        let candidates = hunk.atEnd ? [file.count - count] : Array(start...(file.count - count))
        for equal in [{ (a: String, b: String) in a == b }, { (a: String, b: String) in a.trimmingTrailingWhitespace == b.trimmingTrailingWhitespace }] {
            for at in candidates where at >= start {
                if (0..<count).allSatisfy({ equal(file[at + $0], hunk.old[$0]) }) { return at }
            }
        }
        return nil
    }

    static func isMarker(_ line: String) -> Bool {
        line.hasPrefix("*** Begin Patch") || line.hasPrefix("*** End Patch") || line.hasPrefix("*** Update File:")
            || line.hasPrefix("*** Add File:") || line.hasPrefix("*** Delete File:")
    }

    /// Lines without their LF (a final LF ends the last line, it does not start an empty one).
    static func split(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) }
        if text.hasSuffix("\n") { lines.removeLast() }
        return lines
    }
}

extension StringProtocol {
    var trimmingWhitespace: String { String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()) }
    var trimmingTrailingWhitespace: String { String(String(reversed()).drop(while: { $0 == " " || $0 == "\t" }).reversed()) }
}
