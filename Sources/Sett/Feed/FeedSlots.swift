/// A named retention slot of the commit feed (PostgreSQL's replication slots): while it
/// exists, retention keeps every feed segment holding a commit after `position`, so a
/// consumer (a follower, a backup) can resume from `position + 1` however far behind it
/// is — unless `Options.feedSlotMaxRetainedBytes` caps the history kept for slots.
public struct FeedSlot: Sendable, Equatable {
    public var name: String
    /// The last commit timestamp the consumer holds; it reads on from `position + 1`.
    public var position: UInt64
    /// History after `position` was removed anyway (the cap): the consumer cannot
    /// resume from it and must start over.
    public var isLost: Bool
}

extension DB {
    /// Creates slot `name` (1-64 ASCII letters, digits, `_`, `-`, `.`) at `position`
    /// (default: the newest commit), or moves an existing one there, and saves it in
    /// `SLOTS` before returning. Throws `.notRetained` when history after `position`
    /// is already gone.
    public func createFeedSlot(_ name: String, position: UInt64? = nil) throws {
        try checkWritable()
        guard FeedSlotsFormat.isValidName(name) else {
            throw SettError.invalid("feed slot name must be 1-64 ASCII letters, digits, '_', '-' or '.'")
        }
        try feed.createSlot(name, position: position ?? feed.newestTimestamp)
    }

    /// Moves slot `name` forward to `position` (a lower position is ignored): history up
    /// to it may go. Kept in memory and saved with the next retention pass or at close;
    /// after a crash the slot may stand at an earlier position, which retains more,
    /// never less. Throws `.notFound` for an unknown slot.
    public func advanceFeedSlot(_ name: String, to position: UInt64) throws {
        try checkWritable()
        try feed.advanceSlot(name, to: position)
    }

    /// Removes slot `name` (saved before returning); retention no longer waits for it.
    /// Throws `.notFound` for an unknown slot.
    public func dropFeedSlot(_ name: String) throws {
        try checkWritable()
        try feed.dropSlot(name)
    }

    /// Every slot, by name.
    public var feedSlots: [FeedSlot] {
        let floor = feed.floor
        return feed.slotPositions.sorted { $0.key < $1.key }.map {
            FeedSlot(name: $0.key, position: $0.value, isLost: $0.value < floor)
        }
    }
}
