import FileErrors
import Foundation
import Jobs
import Locking
import Media
import MediaCache

/// What `lookup` answered for a source path and quality, kept while neither the source nor the catalogue changed.
struct RememberedLookup: Sendable {
    var fingerprintKey: String
    var version: CatalogueVersion
    var submissions: Int
    var lookup: ProxyLookup
}

/// The lookups the preview path remembers, by source path and quality. Bounded: past `limit` entries it starts over.
///
/// Lock: one `Mutex` over the table and the count of jobs submitted (a submission of this process may not write the
/// catalogue at once: its slot may be another process's while it waits).
final class RememberedLookups: Sendable {
    private struct State {
        var entries: [String: RememberedLookup] = [:]
        var submissions = 0
    }
    private let state = Mutex(State())
    static let limit = 4096

    private static func key(_ sourcePath: String, _ quality: ProxyQuality) -> String { "\(quality.rawValue)\u{0}\(sourcePath)" }

    var submissions: Int { state.withLock { $0.submissions } }

    /// A job was submitted: what was remembered may no longer say what this process does.
    func noteSubmission() {
        state.withLock { $0.submissions += 1 }
    }

    func find(_ sourcePath: String, _ quality: ProxyQuality, fingerprintKey: String, version: CatalogueVersion) -> ProxyLookup? {
        state.withLock { state in
            guard let entry = state.entries[Self.key(sourcePath, quality)], entry.fingerprintKey == fingerprintKey,
                entry.version == version, entry.submissions == state.submissions
            else { return nil }
            return entry.lookup
        }
    }

    func remember(_ entry: RememberedLookup, for sourcePath: String, _ quality: ProxyQuality) {
        state.withLock { state in
            if state.entries.count >= Self.limit { state.entries.removeAll(keepingCapacity: true) }
            state.entries[Self.key(sourcePath, quality)] = entry
        }
    }
}

extension ProxyService {
    /// `lookup` for the preview path (`requestFrame`, `setPlayhead`), answered from memory while the source's content
    /// and the catalogue are unchanged: one blocking step (the source's `stat`, the catalogue's version) instead of a
    /// fingerprint step, the job queue and a catalogue query. A job of this process, queued or running, is always asked
    /// afresh (its progress moves); anything written to the catalogue, by this process or another, is seen at once.
    public func previewLookup(sourcePath: String, quality: ProxyQuality) async throws -> ProxyLookup {
        let submissions = rememberedLookups.submissions
        let (fingerprint, version, known) = try await BlockingQueue.run { [fingerprints, catalog, rememberedLookups] in
            let fingerprint = try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: sourcePath) }
            let version = try catalog.version()
            var known = rememberedLookups.find(sourcePath, quality, fingerprintKey: fingerprint.key, version: version)
            // A completed proxy deleted behind the catalogue's back (by hand) is looked up again, which settles it.
            if case .record(let record)? = known, record.status == .completed, fileSize(URL(fileURLWithPath: record.proxyPath)) == nil {
                known = nil
            }
            return (fingerprint, version, known)
        }
        if let known { return known }
        let found = try await lookup(sourcePath: sourcePath, quality: quality, fingerprint: fingerprint)
        switch found {
        case .active:
            break  // Moves on its own: not remembered.
        case .none, .record, .stale:
            // Remembered with the version read before looking: a write during the lookup makes it stale at once.
            rememberedLookups.remember(
                RememberedLookup(
                    fingerprintKey: fingerprint.key, version: version,
                    submissions: submissions, lookup: found),
                for: sourcePath, quality)
        }
        return found
    }
}
