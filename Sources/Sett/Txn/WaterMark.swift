import Synchronization

/// Tracks which timestamps are still in progress and publishes `doneUntil`: the
/// highest timestamp T such that every timestamp <= T that was begun is done.
///
/// Used twice by the oracle: the read mark (timestamps of open transactions; its
/// `doneUntil` is the discard timestamp) and the commit mark (a commit's timestamp is
/// done once its write is in the memtable; a new transaction waits for its read
/// timestamp to be done, so it sees every earlier commit).
///
/// A timestamp may be begun several times (many readers at one read timestamp) and
/// must be done as often. Begins normally arrive in non-decreasing order (the oracle
/// begins them under its lock); an out-of-order begin (managed mode) is inserted in
/// place. Thread-safe; `waitFor` blocks the calling thread.
final class WaterMark: @unchecked Sendable {
    private let monitor = Monitor()
    /// Outstanding begins per timestamp.
    private var pending: [UInt64: Int] = [:]
    /// Pending timestamps in ascending order, from `head` on.
    private var order: [UInt64] = []
    private var head = 0
    private var lastBegun: UInt64 = 0
    private let published = Atomic<UInt64>(0)

    /// Starts with everything up to `ts` done.
    func reset(doneUntil ts: UInt64) {
        monitor.withLock {
            pending.removeAll()
            order.removeAll()
            head = 0
            lastBegun = ts
            published.store(ts, ordering: .releasing)
            monitor.broadcast()
        }
    }

    var doneUntil: UInt64 { published.load(ordering: .acquiring) }

    /// The smallest timestamp still in progress.
    var minPending: UInt64? { monitor.withLock { head < order.count ? order[head] : nil } }

    func begin(_ ts: UInt64) {
        monitor.withLock {
            if let n = pending[ts] {
                pending[ts] = n + 1
                return
            }
            pending[ts] = 1
            if head == order.count || order[order.count - 1] < ts {
                order.append(ts)
            } else {
                // Out of order: insert sorted (rare; managed mode).
                var lo = head, hi = order.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if order[mid] < ts { lo = mid + 1 } else { hi = mid }
                }
                order.insert(ts, at: lo)
            }
            if ts > lastBegun { lastBegun = ts }
            publishLocked()
        }
    }

    func done(_ ts: UInt64) {
        monitor.withLock {
            guard let n = pending[ts] else { return }
            if n > 1 {
                pending[ts] = n - 1
                return
            }
            pending[ts] = nil
            while head < order.count && pending[order[head]] == nil { head += 1 }
            if head > 1024 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
            publishLocked()
        }
    }

    /// Blocks until `doneUntil >= ts`.
    func waitFor(_ ts: UInt64) {
        if doneUntil >= ts { return }
        monitor.withLock {
            while published.load(ordering: .relaxed) < ts { monitor.wait() }
        }
    }

    private func publishLocked() {
        let value = head < order.count ? (order[head] == 0 ? 0 : order[head] - 1) : lastBegun
        // doneUntil never goes backwards (an out-of-order begin below it stays pending
        // but cannot undo what was published).
        if value > published.load(ordering: .relaxed) {
            published.store(value, ordering: .releasing)
            monitor.broadcast()
        }
    }
}
