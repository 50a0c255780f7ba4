/// A JSON object that remembers the order its keys arrived in.
///
/// Members are kept in arrival order in one array. API objects are small (a delta has one to four keys, a run
/// about thirty), so lookup scans the array; an object past ``indexThreshold`` members also keeps a hash index,
/// so a hostile object with a million keys still costs constant time per lookup. Iteration follows insertion
/// order. Equality ignores order, as JSON does.
public struct JSONObject: Sendable, Hashable, Sequence {
    /// One member.
    public typealias Element = (key: String, value: JSONValue)

    /// Objects with more members than this also keep a key → position index.
    static let indexThreshold = 24

    private var entries: [Member] = []
    private var index: [String: Int]?

    fileprivate struct Member: Sendable {
        var key: String
        var value: JSONValue
    }

    public init() {}

    /// Builds an object from pairs; a repeated key keeps its first position and its last value.
    public init(_ pairs: some Sequence<(String, JSONValue)>) {
        for (key, value) in pairs { self[key] = value }
    }

    /// The keys in arrival order.
    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        let utf8Count = key.utf8.count
        for position in entries.indices {
            let candidate = entries[position].key
            if candidate.utf8.count == utf8Count, candidate == key { return position }
        }
        return nil
    }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { entries[$0].value } }
        set {
            if let position = position(of: key) {
                if let newValue {
                    entries[position].value = newValue
                } else {
                    entries.remove(at: position)
                    rebuildIndex()
                }
            } else if let newValue {
                entries.append(Member(key: key, value: newValue))
                if index != nil {
                    index![key] = entries.count - 1
                } else if entries.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    private mutating func rebuildIndex() {
        guard entries.count > Self.indexThreshold else {
            index = nil
            return
        }
        var rebuilt: [String: Int] = [:]
        rebuilt.reserveCapacity(entries.count)
        for (position, member) in entries.enumerated() { rebuilt[member.key] = position }
        index = rebuilt
    }

    /// Mutates the value under `key` in place (no copy of a long string or array); `false` if the key is absent.
    @discardableResult
    public mutating func modifyValue(forKey key: String, _ body: (inout JSONValue) -> Void) -> Bool {
        guard let position = position(of: key) else { return false }
        body(&entries[position].value)
        return true
    }

    public struct Iterator: IteratorProtocol {
        fileprivate var base: IndexingIterator<[Member]>
        public mutating func next() -> Element? {
            guard let member = base.next() else { return nil }
            return (member.key, member.value)
        }
    }

    public func makeIterator() -> Iterator { Iterator(base: entries.makeIterator()) }

    public var underestimatedCount: Int { entries.count }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for member in lhs.entries {
            guard let other = rhs[member.key], other == member.value else { return false }
        }
        return true
    }

    /// Order-independent, like equality: each member is hashed on its own and the results are summed.
    public func hash(into hasher: inout Hasher) {
        var sum = 0
        for member in entries {
            var memberHasher = Hasher()
            memberHasher.combine(member.key)
            memberHasher.combine(member.value)
            sum &+= memberHasher.finalize()
        }
        hasher.combine(entries.count)
        hasher.combine(sum)
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}
