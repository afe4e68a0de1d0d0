import Synchronization

/// A running subscription to the commit feed: a dedicated thread reads the feed and
/// calls the handler with each committed batch, in commit order.
///
/// It ends when the handler returns false, `cancel()` is called, the database closes
/// (no error), or an error occurs: the handler threw, or the feed reported one (such as
/// `.notRetained` when its history was removed by retention). `wait()` blocks until the
/// end and rethrows the error.
///
/// Thread safety: `cancel`, `wait` and `isFinished` may be called from any thread
/// (`wait` from a thread that may block; not from the handler itself).
public final class FeedSubscription: Sendable {
    private struct State {
        var finished = false
        var error: (any Error)?
    }

    private let cancelled = Atomic<Bool>(false)
    private let state = Mutex(State())
    private let done = Monitor()
    private let thread = Mutex<WorkerThread?>(nil)

    init(reader: FeedReader, handler: @escaping @Sendable (CommittedBatch) throws -> Bool) {
        nonisolated(unsafe) let reader = reader
        let worker = WorkerThread(name: "sett-feed") { [self] in
            var failure: (any Error)?
            do {
                while !cancelled.load(ordering: .acquiring) {
                    guard let batch = try reader.next(timeout: 0.1) else { continue }
                    if try !handler(batch) { break }
                }
            } catch let e as SettError where e.code == .closed {
                // The database closed: a normal end.
            } catch {
                failure = error
            }
            reader.close()
            state.withLock {
                $0.finished = true
                $0.error = failure
            }
            done.withLock { done.broadcast() }
        }
        thread.withLock { $0 = worker }
    }

    /// Asks the subscription to stop; it ends after the batch in hand (if any).
    public func cancel() { cancelled.store(true, ordering: .releasing) }

    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Blocks until the subscription ends; throws the error that ended it, if any.
    public func wait() throws {
        done.withLock {
            while !state.withLock({ $0.finished }) { done.wait(seconds: 0.1) }
        }
        if let t = thread.withLock({ t -> WorkerThread? in defer { t = nil }; return t }) { t.join() }
        if let e = state.withLock({ $0.error }) { throw e }
    }
}

extension DB {
    /// A pull reader of the commit feed starting at commit timestamp `ts`: every batch
    /// committed at `ts` or later, in commit order, from retained history and then live.
    /// `prefixes` keeps only entries whose key starts with one of them (batches left
    /// empty are skipped); empty keeps everything.
    ///
    /// `ts` may be any timestamp at or above `feedOldestTimestamp`; use
    /// `feedNewestTimestamp + 1` for "only what commits from now on".
    /// Throws `.notRetained` when `ts` is below `feedOldestTimestamp`.
    ///
    /// The feed assumes commit order equals timestamp order (true for transactions, and
    /// for `write` callers that assign versions in commit order); batches committed out
    /// of order are delivered in commit order, and a start timestamp selects by it.
    public func makeFeedReader(from ts: UInt64, prefixes: [[UInt8]] = []) throws -> FeedReader {
        try checkOpen()
        return try FeedReader(db: self, from: ts, prefixes: prefixes)
    }

    /// Calls `handler` on a dedicated thread with every batch committed at `ts` or
    /// later, in commit order, until it returns false (see `FeedSubscription` for the
    /// other ways it ends). A slow handler never slows writers: the subscription falls
    /// behind and catches up from the retained segments on disk, or ends with
    /// `.notRetained` if retention removed what it still needed.
    /// Throws `.notRetained` at once when `ts` is below `feedOldestTimestamp`.
    public func subscribe(from ts: UInt64, prefixes: [[UInt8]] = [],
                          handler: @escaping @Sendable (CommittedBatch) throws -> Bool) throws -> FeedSubscription {
        let reader = try makeFeedReader(from: ts, prefixes: prefixes)
        return FeedSubscription(reader: reader, handler: handler)
    }

    /// The smallest start timestamp the feed can serve: 0 while no history has been
    /// removed by retention, otherwise one above the newest removed commit timestamp.
    public var feedOldestTimestamp: UInt64 { feed.oldestTimestamp }

    /// The commit timestamp of the newest batch in the feed (at open: the highest
    /// version in the database).
    public var feedNewestTimestamp: UInt64 { feed.newestTimestamp }
}
