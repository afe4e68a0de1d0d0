/// The one error type of the engine. `code` says what kind of failure it is;
/// `file` and `offset` locate corrupt or failing data where that is known.
public struct SettError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Persisted nowhere; safe to extend.
    public enum Code: String, Sendable {
        case corruption, io, notFound, conflict, closed, readOnly, invalidArgument
        case txnTooBig, fenced, locked, unsupported, stalled
        /// A commit-feed start timestamp (or reader position) whose history retention removed.
        case notRetained
        /// Another value-log GC is running.
        case rejected
    }

    public var code: Code
    public var message: String
    public var file: String?
    public var offset: Int64?
    /// errno of the failing system call, for `.io`.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, file: String? = nil, offset: Int64? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.offset = offset
        self.errno = errno
    }

    public var description: String {
        var s = "\(code.rawValue): \(message)"
        if let file { s += " [file \(file)" + (offset.map { " offset \($0)" } ?? "") + "]" }
        if let errno { s += " (errno \(errno))" }
        return s
    }

    static func corruption(_ message: String, file: String?, offset: Int64?) -> SettError {
        SettError(.corruption, message, file: file, offset: offset)
    }

    static func invalid(_ message: String) -> SettError { SettError(.invalidArgument, message) }

    /// Returns a copy that names `file` (and `offset` if it had none).
    func located(file: String, offset: Int64? = nil) -> SettError {
        var e = self
        if e.file == nil { e.file = file }
        if e.offset == nil { e.offset = offset }
        return e
    }
}
