import CFFmpeg

/// Joins a proxy's parts (its video segments, in order, and its audio, `TranscodePart`) into one ordinary MP4 with its
/// index at the front, without re-encoding: the packets are copied, interleaved by time. The segments' timestamps are
/// already the proxy's, so the result has the frames, times and audio a one-pass encode of the same settings has; the
/// source's timecode and creation time are copied as a one-pass encode copies them.
///
/// Refused (`MediaError.corrupt`): segments whose H.264 parameters differ (made with other settings), timestamps that go
/// back or repeat at a seam, and a damaged part (the demuxer's checks).
public enum SegmentJoiner {
    /// What the joined file holds.
    public struct Joined: Sendable {
        public var frameCount: Int64
        public var durationSeconds: Double
    }

    /// Blocking. Checks `isCancelled` between packets. On any error the unfinished output is removed.
    /// - Parameters:
    ///   - frameRate: the proxy's (the plan's) constant rate, which players show.
    ///   - sourcePath: the source, for its timecode and creation time (nil: none copied).
    public static func join(
        videoSegments: [String], audio: String?, frameRate: (num: Int32, den: Int32), sourcePath: String?, output: String,
        isCancelled: () -> Bool = { false }
    ) throws(MediaError) -> Joined {
        guard !videoSegments.isEmpty else {
            throw MediaError.unsupported(path: output, reason: "a proxy needs at least one video segment")
        }
        let muxer = try Muxer(path: output, layout: .faststart)
        var video = try SegmentReader(paths: videoSegments)
        let videoIn = video.stream
        let videoOut = try muxer.addStream(copying: videoIn)
        videoOut.pointee.avg_frame_rate = AVRational(num: frameRate.num, den: frameRate.den)
        let extradata = Self.extradata(of: videoIn)

        let audioInput = try audio.map { path throws(MediaError) in try Demuxer(path: path, analysis: .quick) }
        var audioOut: [Int: UnsafeMutablePointer<AVStream>] = [:]
        for stream in audioInput?.streams ?? [] {
            let out = try muxer.addStream(copying: stream)
            for key in ["language", "title", "handler_name"] {
                if let value = MediaProbe.tag(key, in: stream.pointee.metadata) { muxer.setMetadata(key, value, on: out) }
            }
            audioOut[Int(stream.pointee.index)] = out
        }
        if let sourcePath, let source = try? MediaSource(path: sourcePath, quickAnalysis: true) {
            Transcoder.copyTimecodeAndCreationTime(from: source, to: muxer, video: videoOut)
        }
        try muxer.writeHeader()

        let videoPacket = try Packet()
        let audioPacket = try Packet()
        var haveVideo = try video.read(into: videoPacket)
        var haveAudio = try audioInput?.read(into: audioPacket) ?? false
        var frames: Int64 = 0
        var lastVideoTime: Int64? = nil
        var endSeconds = 0.0
        while haveVideo || haveAudio {
            if isCancelled() { throw MediaError.cancelled }
            // The earlier of the two next packets (by decoding time), so the muxer interleaves without buffering.
            let takeVideo: Bool
            if haveVideo && haveAudio, let audioInput {
                let audioStream = audioInput.streams[audioPacket.streamIndex]
                takeVideo =
                    av_compare_ts(
                        videoPacket.pointer.pointee.dts, video.stream.pointee.time_base,
                        audioPacket.pointer.pointee.dts, audioStream.pointee.time_base) <= 0
            } else {
                takeVideo = haveVideo
            }
            if takeVideo {
                if video.segmentChanged {
                    guard Self.extradata(of: video.stream) == extradata else {
                        throw MediaError.corrupt(
                            path: video.currentPath, reason: "its H.264 parameters differ from the first segment's (other settings)")
                    }
                }
                let time = videoPacket.pointer.pointee.dts
                if let last = lastVideoTime, time <= last {
                    throw MediaError.corrupt(path: video.currentPath, reason: "its first frame's time repeats or precedes the segment before")
                }
                lastVideoTime = time
                let end = time + max(1, videoPacket.pointer.pointee.duration)
                endSeconds = max(endSeconds, Double(end) * av_q2d(video.stream.pointee.time_base))
                frames += 1
                try muxer.write(videoPacket.pointer, timeBase: video.stream.pointee.time_base, stream: videoOut)
                videoPacket.unref()
                haveVideo = try video.read(into: videoPacket)
            } else if let audioInput {
                let index = audioPacket.streamIndex
                let stream = audioInput.streams[index]
                let end = audioPacket.pointer.pointee.pts + audioPacket.pointer.pointee.duration
                endSeconds = max(endSeconds, Double(end) * av_q2d(stream.pointee.time_base))
                if let out = audioOut[index] { try muxer.write(audioPacket.pointer, timeBase: stream.pointee.time_base, stream: out) }
                audioPacket.unref()
                haveAudio = try audioInput.read(into: audioPacket)
            }
        }
        if isCancelled() { throw MediaError.cancelled }
        try muxer.finish()
        return Joined(frameCount: frames, durationSeconds: endSeconds)
    }

    private static func extradata(of stream: UnsafeMutablePointer<AVStream>) -> [UInt8] {
        let parameters = stream.pointee.codecpar.pointee
        guard let data = parameters.extradata, parameters.extradata_size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(parameters.extradata_size)))
    }
}

/// Reads the video packets of a run of segment files, one file after the other, as one stream.
private struct SegmentReader {
    private let paths: [String]
    private var index = 0
    private var demuxer: Demuxer
    private(set) var stream: UnsafeMutablePointer<AVStream>
    /// Whether the packet last read is the first of a segment after the first.
    private(set) var segmentChanged = false

    var currentPath: String { paths[index] }

    init(paths: [String]) throws(MediaError) {
        self.paths = paths
        (demuxer, stream) = try Self.open(paths[0])
    }

    private static func open(_ path: String) throws(MediaError) -> (Demuxer, UnsafeMutablePointer<AVStream>) {
        let demuxer = try Demuxer(path: path, analysis: .quick)
        guard let stream = demuxer.streams.first(where: { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO }) else {
            throw MediaError.corrupt(path: path, reason: "the segment has no video track")
        }
        return (demuxer, stream)
    }

    mutating func read(into packet: Packet) throws(MediaError) -> Bool {
        segmentChanged = false
        while true {
            if try demuxer.read(into: packet) {
                if packet.streamIndex == Int(stream.pointee.index) { return true }
                packet.unref()
                continue
            }
            guard index + 1 < paths.count else { return false }
            index += 1
            (demuxer, stream) = try Self.open(paths[index])
            segmentChanged = true
        }
    }
}
