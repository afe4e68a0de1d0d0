/// A few dedicated threads that wait for asynchronous commits, so that neither the
/// caller nor the Swift concurrency pool blocks on group commit.
///
/// Jobs run in submission order. A job blocks its thread until its write is applied
/// (possibly leading the group commit). Because jobs are submitted in write-queue order
/// (under the oracle lock) and started in that order, the earliest unfinished job is
/// always running, so the queue never waits for a job that has no thread.
/// Threads start on first use and stop at `shutdown()`. Thread-safe.
final class CommitterPool: @unchecked Sendable {
    private let monitor = Monitor()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var threads: [WorkerThread] = []
    private let maxThreads: Int
    private var stopping = false

    init(threads: Int) {
        self.maxThreads = max(1, threads)
    }

    /// Queues `job`; returns false if the pool has shut down (the job is not run).
    @discardableResult
    func submit(_ job: @escaping () -> Void) -> Bool {
        monitor.withLock {
            if stopping { return false }
            jobs.append(job)
            if threads.count < maxThreads {
                let n = threads.count
                threads.append(WorkerThread(name: "sett-commit-\(n)") { [self] in run() })
            }
            monitor.broadcast()
            return true
        }
    }

    private func run() {
        while true {
            let job: (() -> Void)? = monitor.withLock {
                while head == jobs.count && !stopping { monitor.wait() }
                if head == jobs.count { return nil }
                let j = jobs[head]
                head += 1
                if head == jobs.count {
                    jobs.removeAll(keepingCapacity: true)
                    head = 0
                }
                return j
            }
            guard let job else { return }
            job()
        }
    }

    /// Runs the queued jobs, then stops the threads.
    func shutdown() {
        let ts: [WorkerThread] = monitor.withLock {
            stopping = true
            monitor.broadcast()
            return threads
        }
        for t in ts { t.join() }
    }
}
