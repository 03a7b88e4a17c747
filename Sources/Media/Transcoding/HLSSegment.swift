import CFFmpeg
import Foundation

/// The segments of an HLS playlist of a proxy in the making: fragmented MP4s (an initialisation section, then a
/// fragment per GOP) holding a video segment's packets and, when the proxy has audio, its primary track's packets of
/// the same time span, copied without re-encoding. Their timestamps are the proxy's, so a player (the ffmpeg CLI, a
/// browser through Media Source Extensions) places each at its time.
///
/// One audio track: HLS renditions and Media Source Extensions take one audio track per segment; a preview plays the
/// source's primary one (the joined proxy keeps every track).
public enum HLSSegment {
    /// Writes `output`: the video segment at `video` and the packets of the first audio track of `audio` (the proxy's
    /// audio part) whose presentation times fall in `start..<end` (nil: to the end; a start of 0 takes the track from
    /// its first sample). Blocking; the unfinished output is removed on any error.
    public static func mux(video: String, audio: String?, start: Double, end: Double?, output: String) throws(MediaError) {
        let videoInput = try Demuxer(path: video, analysis: .quick)
        guard let videoIn = videoInput.streams.first(where: { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO }) else {
            throw MediaError.corrupt(path: video, reason: "the segment has no video track")
        }
        let audioInput = try audio.map { path throws(MediaError) in try Demuxer(path: path, analysis: .quick) }
        let audioIn = audioInput?.streams.first { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO }

        let muxer = try Muxer(path: output, layout: .fragmented)
        let videoOut = try muxer.addStream(copying: videoIn)
        let audioOut = try audioIn.map { stream throws(MediaError) in try muxer.addStream(copying: stream) }
        try muxer.writeHeader()

        if let audioInput, let audioIn, start > 0 {
            // From the audio packet at or before the start (the rest before it is skipped below).
            let target = av_rescale_q(Int64(start * 1e6), aura_time_base_q(), audioIn.pointee.time_base)
            _ = av_seek_frame(audioInput.context, audioIn.pointee.index, target, AVSEEK_FLAG_BACKWARD)
        }
        let videoPacket = try Packet()
        let audioPacket = try Packet()
        func nextVideo() throws(MediaError) -> Bool {
            while try videoInput.read(into: videoPacket) {
                if videoPacket.streamIndex == Int(videoIn.pointee.index) { return true }
                videoPacket.unref()
            }
            return false
        }
        func nextAudio() throws(MediaError) -> Bool {
            guard let audioInput, let audioIn else { return false }
            while try audioInput.read(into: audioPacket) {
                let pts = audioPacket.pointer.pointee.pts
                let seconds = Double(pts) * av_q2d(audioIn.pointee.time_base)
                if audioPacket.streamIndex == Int(audioIn.pointee.index) && (start == 0 || seconds >= start) && pts >= 0 {
                    if let end, seconds >= end { return false }
                    return true
                }
                audioPacket.unref()
            }
            return false
        }
        var haveVideo = try nextVideo()
        var haveAudio = try nextAudio()
        while haveVideo || haveAudio {
            let takeVideo =
                haveVideo
                && (!haveAudio
                    || av_compare_ts(
                        videoPacket.pointer.pointee.dts, videoIn.pointee.time_base, audioPacket.pointer.pointee.dts,
                        audioIn!.pointee.time_base) <= 0)
            if takeVideo {
                try muxer.write(videoPacket.pointer, timeBase: videoIn.pointee.time_base, stream: videoOut)
                videoPacket.unref()
                haveVideo = try nextVideo()
            } else if let audioIn, let audioOut {
                try muxer.write(audioPacket.pointer, timeBase: audioIn.pointee.time_base, stream: audioOut)
                audioPacket.unref()
                haveAudio = try nextAudio()
            }
        }
        try muxer.finish()
    }

    /// The length in bytes of a fragmented MP4's initialisation section (the boxes before its first `moof`), and those
    /// bytes; nil when the file cannot be read or has no fragment.
    public static func initialization(of path: String) -> (length: Int, bytes: Data)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var offset: UInt64 = 0
        while let header = try? handle.read(upToCount: 8), header.count == 8 {
            let size = header.prefix(4).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let type = String(decoding: header.suffix(4), as: UTF8.self)
            if type == "moof" {
                guard (try? handle.seek(toOffset: 0)) != nil, let bytes = try? handle.read(upToCount: Int(offset)) else { return nil }
                return (Int(offset), bytes)
            }
            guard size >= 8 else { return nil }
            offset += size
            guard (try? handle.seek(toOffset: offset)) != nil else { return nil }
        }
        return nil
    }
}
