import Foundation
import Jobs
import Locking
import Media
import MediaCache

/// Which finished segment files were confirmed whole (size and checksum), by path, with the size and modification
/// time they had then: a file is hashed again only when either changed. Started over past 4096 files.
final class ConfirmedSegments: Sendable {
    private let confirmed = Mutex<[String: [Int64]]>([:])

    /// Whether the file at `url` is the one `row` recorded; hashes it once per change. Blocking.
    func isWhole(_ url: URL, as row: ProxySegmentRecord) -> Bool {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return false }
        let signature = [Int64(info.st_size), Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec), Int64(info.st_ino)]
        if confirmed.withLock({ $0[url.path] }) == signature { return true }
        guard let (size, checksum) = FileChecksum.of(url), size == row.sizeBytes, checksum == row.checksum else { return false }
        confirmed.withLock { table in
            if table.count >= 4096 { table.removeAll(keepingCapacity: true) }
            table[url.path] = signature
        }
        return true
    }
}

/// A finished segment of a proxy in the making that a reader can use: its file and the time span it covers.
public struct ProxySegmentFile: Sendable, Equatable {
    /// The segment's file: a fragmented MP4 of the proxy's video whose timestamps are the proxy's (it starts at
    /// `startSeconds`, which a reader that counts from the file's start adds).
    public var path: String
    public var startSeconds: Double
    public var endSeconds: Double
}

/// An HLS playlist of a proxy in the making (`ProxyPlaylists`): the run of finished segments it lists.
public struct ProxyPartialPlaylist: Sendable, Equatable {
    /// An HLS EVENT playlist (fMP4 segments): it grows as segments land after the run's end.
    public var playlistPath: String
    /// The time span (seconds) the playlist covers now.
    public var start: Double
    public var end: Double
}

extension ProxyService {
    /// The playlist of `record`'s proxy in the making: the run of finished segments that holds the source's playhead
    /// (`notePlayhead`), else the first run; nil before any playlist is written (a proxy with audio has one once its
    /// audio part is finished).
    public func partialPlaylist(of record: ProxyRecord) async -> ProxyPartialPlaylist? {
        guard record.status != .completed, !record.coverage.isEmpty else { return nil }
        let request = ProxyRequest(sourcePath: record.sourcePath, quality: record.quality, scalePercent: record.scalePercent)
        let key = ProxySegmentBuild.settingsKey(ProxyJobWork.settings(for: request, configuration: store.configuration))
        let playhead = playheads.withLock { $0[record.sourcePath] }
        return try? await BlockingQueue.run { [store] () -> ProxyPartialPlaylist? in
            let slot = record.slot
            let runs = ProxyPlaylists.runs(of: try store.catalog.segments(of: slot, settingsKey: key))
            guard let run = runs.first(where: { run in playhead.map { run.start <= $0 && $0 < run.end } ?? false }) ?? runs.first
            else { return nil }
            let playlists = ProxyPlaylists(area: store.area, folder: slot.segmentsFolder, settingsKey: key)
            let url = playlists.url(playlists.playlistName(runStart: run.firstIndex))
            // What the playlist lists now: a segment recorded a moment ago may not be in it yet (the playlist is
            // written after the row), and `coverage` promises what a player finds there.
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
            let listed = min(run.rows.count, text.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("#") }.count)
            guard listed > 0, let end = run.rows[listed - 1].timeSpan?.upperBound else { return nil }
            return ProxyPartialPlaylist(
                playlistPath: url.path, start: (run.start * 1000).rounded() / 1000, end: (end * 1000).rounded() / 1000)
        }
    }

    /// The finished video segment of `record`'s proxy (one being made) that holds `seconds`, when its file is whole;
    /// nil when the time is not covered yet. A damaged or vanished segment is never handed out (its job makes it again).
    public func segmentFile(of record: ProxyRecord, at seconds: Double) async -> ProxySegmentFile? {
        guard record.status != .completed, record.coverage.contains(where: { $0.count == 2 && $0[0] <= seconds && seconds < $0[1] })
        else { return nil }
        let request = ProxyRequest(sourcePath: record.sourcePath, quality: record.quality, scalePercent: record.scalePercent)
        let key = ProxySegmentBuild.settingsKey(ProxyJobWork.settings(for: request, configuration: store.configuration))
        return try? await BlockingQueue.run { [store, confirmedSegments] () -> ProxySegmentFile? in
            let slot = record.slot
            for row in try store.catalog.segments(of: slot, settingsKey: key) {
                guard let span = row.timeSpan, span.contains(seconds) else { continue }
                let url = store.area.fileURL(row.fileName, folder: slot.segmentsFolder)
                guard confirmedSegments.isWhole(url, as: row) else { return nil }
                return ProxySegmentFile(path: url.path, startSeconds: span.lowerBound, endSeconds: span.upperBound)
            }
            return nil
        }
    }
}
