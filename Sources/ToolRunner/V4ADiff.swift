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
        // A diff written with CRLF line ends makes a file with CRLF line ends.
        let lineEnd = diff.utf8.contains(UInt8(ascii: "\r")) && diff.contains("\r\n") ? "\r\n" : "\n"
        return lines.isEmpty ? "" : lines.joined(separator: lineEnd) + lineEnd
    }

    /// `original` with every hunk of `diff` applied in order (see the bytes variant).
    public static func applied(_ diff: String, to original: String, maxComparisons: Int = 20_000_000) throws(Failure) -> String {
        String(decoding: try applied(diff, to: Array(original.utf8), maxComparisons: maxComparisons), as: UTF8.self)
    }

    /// `original` with every hunk of `diff` applied in order; each must match where the one before ended or later.
    /// The file's line ends (LF or CRLF) are kept: added lines take the file's. Matching is bounded: past
    /// `maxComparisons` line comparisons the diff is refused rather than let one call take minutes of CPU.
    ///
    /// Memory: the file's lines are ranges into `original` (16 bytes a line), and the result is built once, so an
    /// update holds the file about twice and a half.
    public static func applied(_ diff: String, to original: [UInt8], maxComparisons: Int = 20_000_000) throws(Failure) -> [UInt8] {
        let lines = lineRanges(original)
        let lineEnd: [UInt8] = lines.first.map { $0.upperBound < original.count && original[$0.upperBound] == UInt8(ascii: "\r") } == true
            ? [13, 10] : [10]
        let hadFinalNewline = original.last == UInt8(ascii: "\n")
        let file = FileLines(bytes: original, lines: lines)
        let hunks = try parse(diff)
        guard !hunks.isEmpty else { throw Failure(message: "the diff has no hunk") }
        var budget = maxComparisons
        // Every hunk matches at or after the end of the one before, so the places are in the original's lines.
        var edits: [(at: Int, removed: Int, added: [String])] = []
        var cursor = 0
        for (number, hunk) in hunks.enumerated() {
            var start = cursor
            for anchor in hunk.anchors {
                let trimmed = Array(anchor.trimmingWhitespace.utf8)
                budget -= lines.count - start
                guard let found = (start..<lines.count).first(where: { file.trimmed($0).elementsEqual(trimmed) }) else {
                    throw Failure(message: "hunk \(number + 1): its anchor '\(anchor.prefix(60))' is not in the file")
                }
                start = found + 1
            }
            guard let at = try match(hunk, in: file, from: start, budget: &budget) else {
                throw Failure(message: "hunk \(number + 1) does not match the file (its context and removed lines are not there)")
            }
            edits.append((at, hunk.old.count, hunk.new))
            cursor = at + hunk.old.count
        }
        var result: [UInt8] = []
        result.reserveCapacity(original.count + edits.reduce(0) { $0 + $1.added.reduce(0) { $0 + $1.utf8.count + 2 } })
        var written = 0
        var next = 0
        for edit in edits {
            for index in next..<edit.at { result += original[lines[index]]; result += lineEnd }
            for line in edit.added { result += line.utf8; result += lineEnd }
            written += edit.at - next + edit.added.count
            next = edit.at + edit.removed
        }
        for index in next..<lines.count { result += original[lines[index]]; result += lineEnd }
        written += lines.count - next
        guard written > 0 else { return [] }
        if !(hadFinalNewline || original.isEmpty) { result.removeLast(lineEnd.count) }
        return result
    }

    /// A file's bytes and its lines as ranges into them (without their line ends).
    struct FileLines {
        let bytes: [UInt8]
        let lines: [Range<Int>]
        var count: Int { lines.count }

        subscript(_ index: Int) -> ArraySlice<UInt8> { bytes[lines[index]] }

        /// The line without its leading and trailing spaces and tabs.
        func trimmed(_ index: Int) -> ArraySlice<UInt8> {
            var line = self[index]
            while let first = line.first, first == 32 || first == 9 { line = line.dropFirst() }
            return V4ADiff.trimmingTrailingWhitespace(line)
        }
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

    /// Where `hunk.old` stands in `file` at or after `start`: exactly, else ignoring trailing white space. Only the
    /// places whose first line already matches are compared further; every line compared is taken from `budget`.
    static func match(_ hunk: Hunk, in file: FileLines, from start: Int, budget: inout Int) throws(Failure) -> Int? {
        let count = hunk.old.count
        guard start + count <= file.count else { return hunk.old.isEmpty ? file.count : nil }
        let range = hunk.atEnd ? max(start, file.count - count)...(file.count - count) : start...(file.count - count)
        guard count > 0 else { return range.lowerBound }
        for loose in [false, true] {
            let old = (loose ? hunk.old.map(\.trimmingTrailingWhitespace) : hunk.old).map { Array($0.utf8) }
            for at in range {
                budget -= 1
                guard budget > 0 else { throw Failure(message: "the diff is too costly to match against a file this size (more than the comparisons allowed)") }
                guard same(file[at], old[0], loose: loose) else { continue }
                var index = 1
                while index < count && same(file[at + index], old[index], loose: loose) { index += 1 }
                budget -= index
                if index == count { return at }
            }
        }
        return nil
    }

    /// `line` equals `expected` (already trimmed when `loose`), exactly or but for trailing white space.
    @inline(__always)
    static func same(_ line: ArraySlice<UInt8>, _ expected: [UInt8], loose: Bool) -> Bool {
        if line.count == expected.count && line.elementsEqual(expected) { return true }
        guard loose else { return false }
        let trimmed = trimmingTrailingWhitespace(line)
        return trimmed.count != line.count && trimmed.elementsEqual(expected)
    }

    static func isMarker(_ line: String) -> Bool {
        line.hasPrefix("*** Begin Patch") || line.hasPrefix("*** End Patch") || line.hasPrefix("*** Update File:")
            || line.hasPrefix("*** Add File:") || line.hasPrefix("*** Delete File:")
    }

    /// Lines without their LF or CRLF (a final line end ends the last line, it does not start an empty one). Split
    /// on bytes: a Swift `Character` holds CR and LF together, so splitting on the Character LF misses every CRLF.
    static func split(_ text: String) -> [String] {
        var lines: [String] = []
        let bytes = text.utf8
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\n") {
                var end = index
                if end > start && bytes[bytes.index(before: end)] == UInt8(ascii: "\r") { end = bytes.index(before: end) }
                lines.append(String(text[start..<end]))
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        if start != bytes.endIndex { lines.append(String(text[start...])) }
        return lines
    }
}

extension V4ADiff {
    /// `line` without its trailing spaces and tabs (the bytes of ``StringProtocol/trimmingTrailingWhitespace``).
    static func trimmingTrailingWhitespace(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var line = line
        while let last = line.last, last == 32 || last == 9 { line = line.dropLast() }
        return line
    }

    /// The lines of `bytes` as ranges without their LF or CRLF (a final line end ends the last line).
    static func lineRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var start = 0
        bytes.withUnsafeBufferPointer { buffer in
            for index in 0..<buffer.count where buffer[index] == 10 {
                let end = index > start && buffer[index - 1] == 13 ? index - 1 : index
                lines.append(start..<end)
                start = index + 1
            }
        }
        if start < bytes.count { lines.append(start..<bytes.count) }
        return lines
    }
}

extension StringProtocol {
    var trimmingWhitespace: String { String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()) }
    var trimmingTrailingWhitespace: String {
        let text = String(self)
        var end = text.utf8.endIndex
        while end > text.utf8.startIndex, case let byte = text.utf8[text.utf8.index(before: end)], byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
            end = text.utf8.index(before: end)
        }
        return String(text[text.startIndex..<end])
    }
}
