import CFFmpeg

/// Decodes one stream of a `MediaSource` with the send/receive API.
///
/// Damaged packets are skipped, as players do; other libav failures are `MediaError`s. After a seek (or the end
/// of the stream) `flush()` makes it ready for packets from the new position.
final class StreamDecoder {
    let stream: UnsafeMutablePointer<AVStream>
    let codec: CodecContext
    private let frame: Frame
    private let path: String

    /// Opens a decoder for `stream` with `threads` threads (0 = one per core; frame threading adds a frame of
    /// latency per thread, so seeking readers use 1).
    init(_ stream: UnsafeMutablePointer<AVStream>, of source: MediaSource, threads: Int) throws(MediaError) {
        guard let codec = try CodecContext.decoder(for: stream, threads: threads, path: source.path) else {
            let name = String(cString: avcodec_get_name(stream.pointee.codecpar.pointee.codec_id))
            throw MediaError.unsupported(path: source.path, reason: "no decoder for the \(name) codec")
        }
        self.stream = stream
        self.codec = codec
        frame = try Frame()
        path = source.path
    }

    /// Whether `packet` belongs to this decoder's stream.
    func accepts(_ packet: Packet) -> Bool {
        packet.streamIndex == Int(stream.pointee.index)
    }

    /// Sends `packet` (nil = end of stream) and hands every frame that comes out to `body`.
    func decode(
        _ packet: UnsafeMutablePointer<AVPacket>?,
        _ body: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void
    ) throws(MediaError) {
        let sent = avcodec_send_packet(codec.pointer, packet)
        if sent < 0 && sent != FFmpegResult.eof && sent != FFmpegResult.eagain && sent != FFmpegResult.invalidData {
            throw FFmpegResult.readError(sent, path: path, operation: "avcodec_send_packet(\(codec.name))")
        }
        while true {
            let rc = avcodec_receive_frame(codec.pointer, frame.pointer)
            if rc == FFmpegResult.eagain || rc == FFmpegResult.eof { return }
            if rc == FFmpegResult.invalidData { continue }
            if rc < 0 { throw FFmpegResult.readError(rc, path: path, operation: "avcodec_receive_frame(\(codec.name))") }
            defer { frame.unref() }
            try body(frame.pointer)
        }
    }

    /// Drops buffered frames and the end-of-stream state: ready for packets from a new position.
    func flush() {
        avcodec_flush_buffers(codec.pointer)
    }

    /// A frame's presentation timestamp (best effort), nil when it has none.
    static func timestamp(of frame: UnsafeMutablePointer<AVFrame>) -> Int64? {
        var ts = frame.pointee.best_effort_timestamp
        if ts == aura_nopts_value() { ts = frame.pointee.pts }
        return ts == aura_nopts_value() ? nil : ts
    }
}
