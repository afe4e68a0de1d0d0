/// One input of a merge: a concrete iterator kind, dispatched by `switch` rather than
/// through an existential, so the per-key calls of the merge loop stay direct.
enum SourceIterator {
    case memtable(SkiplistIterator)
    case table(TableIterator)
    case level(LevelIterator)

    @inline(__always) var valid: Bool {
        switch self {
        case .memtable(let it): it.valid
        case .table(let it): it.valid
        case .level(let it): it.valid
        }
    }

    @inline(__always) var key: UnsafeRawBufferPointer {
        switch self {
        case .memtable(let it): it.key
        case .table(let it): it.key
        case .level(let it): it.key
        }
    }

    @inline(__always) var value: ValueView {
        switch self {
        case .memtable(let it): it.value
        case .table(let it): it.value
        case .level(let it): it.value
        }
    }

    var error: SettError? {
        switch self {
        case .memtable(let it): it.error
        case .table(let it): it.error
        case .level(let it): it.error
        }
    }

    @inline(__always) func next() {
        switch self {
        case .memtable(let it): it.next()
        case .table(let it): it.next()
        case .level(let it): it.next()
        }
    }

    @inline(__always) func prev() {
        switch self {
        case .memtable(let it): it.prev()
        case .table(let it): it.prev()
        case .level(let it): it.prev()
        }
    }

    func seekToFirst() {
        switch self {
        case .memtable(let it): it.seekToFirst()
        case .table(let it): it.seekToFirst()
        case .level(let it): it.seekToFirst()
        }
    }

    func seekToLast() {
        switch self {
        case .memtable(let it): it.seekToLast()
        case .table(let it): it.seekToLast()
        case .level(let it): it.seekToLast()
        }
    }

    func seek(_ key: UnsafeRawBufferPointer) {
        switch self {
        case .memtable(let it): it.seek(key)
        case .table(let it): it.seek(key)
        case .level(let it): it.seek(key)
        }
    }

    func seekForPrev(_ key: UnsafeRawBufferPointer) {
        switch self {
        case .memtable(let it): it.seekForPrev(key)
        case .table(let it): it.seekForPrev(key)
        case .level(let it): it.seekForPrev(key)
        }
    }
}
