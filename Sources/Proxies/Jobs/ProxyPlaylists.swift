import FileErrors
import Foundation
import Media
import MediaCache

/// The HLS playlists of a proxy in the making, in its segments folder: one EVENT playlist per run of consecutive
/// finished video segments (`<key>-run-<first index>.m3u8`), which only grows as segments land after it, so a player
/// following it sees what an EVENT playlist promises. Its segments are fragmented MP4s (`HLSSegment`: the video segment
/// and the primary audio track's packets of the same span), each listed by byte range after one initialisation section
/// (`EXT-X-MAP`, repeated only where a segment's differs); a proxy without audio lists its video segments as they are.
/// A proxy with audio has playlists once its audio part is finished (the second part made).
///
/// Written by the job that owns the proxy (it holds the slot's lock), each file atomically.
struct ProxyPlaylists {
    /// What one job's publishing already knows, so each landing part costs a `stat` per listed segment rather than
    /// reading every segment's initialisation section and rewriting every playlist again: the HLS segments' sizes and
    /// initialisation sections, and the text each playlist was last written with. Used on the job's thread only.
    final class Memory {
        fileprivate var segments: [String: (size: Int64, initLength: Int, initBytes: Data)] = [:]
        fileprivate var written: [String: String] = [:]
        init() {}
    }

    let area: CacheArea
    let folder: String
    let settingsKey: String

    func hlsFileName(_ index: Int) -> String { "\(settingsKey)-hls-\(String(format: "%05d", index)).m4s" }
    func playlistName(runStart index: Int) -> String { "\(settingsKey)-run-\(String(format: "%05d", index)).m3u8" }
    func url(_ name: String) -> URL { area.fileURL(name, folder: folder) }

    /// A run of consecutive finished video segments: their rows in order, and the time span they cover.
    struct Run {
        var rows: [ProxySegmentRecord]
        var start: Double
        var end: Double
        var firstIndex: Int { rows[0].segmentIndex }
    }

    /// The runs of the finished video segments among `rows`, in order.
    static func runs(of rows: [ProxySegmentRecord]) -> [Run] {
        var runs: [Run] = []
        for row in rows.filter({ $0.timeSpan != nil }).sorted(by: { $0.segmentIndex < $1.segmentIndex }) {
            guard let span = row.timeSpan else { continue }
            let (start, end) = (span.lowerBound, span.upperBound)
            if var last = runs.last, last.rows.last!.segmentIndex + 1 == row.segmentIndex {
                last.rows.append(row)
                last.end = end
                runs[runs.count - 1] = last
            } else {
                runs.append(Run(rows: [row], start: start, end: end))
            }
        }
        return runs
    }

    /// Makes the HLS segments still missing and rewrites each run's playlist whose text changed. Blocking.
    func publish(rows: [ProxySegmentRecord], hasAudio: Bool, memory: Memory = Memory()) throws {
        let audio = rows.first { $0.part == .audio }
        if hasAudio && audio == nil { return }
        for run in Self.runs(of: rows) {
            var lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-INDEPENDENT-SEGMENTS"]
            var body: [String] = []
            var longest = 0.0
            var lastInit: Data? = nil
            for row in run.rows {
                let name = hasAudio ? hlsFileName(row.segmentIndex) : row.fileName
                if hasAudio, fileSize(url(name)) == nil { try makeHLSSegment(row, audio: audio!, name: name) }
                guard let span = row.timeSpan, let size = fileSize(url(name)) else {
                    throw MediaError.ioFailure(path: url(name).path, reason: "the HLS segment cannot be read")
                }
                if memory.segments[name]?.size != size {
                    guard let (length, initBytes) = HLSSegment.initialization(of: url(name).path) else {
                        throw MediaError.ioFailure(path: url(name).path, reason: "the HLS segment cannot be read")
                    }
                    memory.segments[name] = (size, length, initBytes)
                }
                let (length, initBytes) = (memory.segments[name]!.initLength, memory.segments[name]!.initBytes)
                if initBytes != lastInit {
                    body.append("#EXT-X-MAP:URI=\"\(name)\",BYTERANGE=\"\(length)@0\"")
                    lastInit = initBytes
                }
                let duration = span.upperBound - span.lowerBound
                longest = max(longest, duration)
                body.append(String(format: "#EXTINF:%.3f,", duration))
                body.append("#EXT-X-BYTERANGE:\(size - Int64(length))@\(length)")
                body.append(name)
            }
            lines.append("#EXT-X-TARGETDURATION:\(Int(longest.rounded(.up)))")
            lines.append("#EXT-X-MEDIA-SEQUENCE:\(run.firstIndex)")
            let text = (lines + body).joined(separator: "\n") + "\n"
            let name = playlistName(runStart: run.firstIndex)
            if memory.written[name] == text, fileSize(url(name)) != nil { continue }
            memory.written[name] = nil
            try MediaError.mapping { () throws(FileError) in
                try DurableFile.write(Array(text.utf8), to: url(name), via: url(name + ".partial"), mode: 0o644)
            }
            memory.written[name] = text
        }
    }

    private func makeHLSSegment(_ row: ProxySegmentRecord, audio: ProxySegmentRecord, name: String) throws {
        let start = Double(row.startSlot) / row.frameRate
        let end = row.endSlot.map { Double($0) / row.frameRate }
        let partial = url(name + ".partial")
        do {
            try HLSSegment.mux(
                video: url(row.fileName).path, audio: url(audio.fileName).path, start: start, end: end, output: partial.path)
            try MediaError.mapping { () throws(FileError) in try DurableFile.install(partial, as: url(name)) }
        } catch {
            area.removeFile(named: partial.lastPathComponent, folder: folder)
            throw error
        }
    }
}
