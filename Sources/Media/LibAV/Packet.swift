import CFFmpeg

/// An owned `AVPacket` (freed in `deinit`). Reused across reads: callers `unref()` after use.
final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>

    init() throws(MediaError) {
        guard let p = av_packet_alloc() else {
            throw MediaError.ffmpeg(operation: "av_packet_alloc", code: aura_averror(ENOMEM), message: "out of memory")
        }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&p)
    }

    func unref() { av_packet_unref(pointer) }
    var streamIndex: Int { Int(pointer.pointee.stream_index) }
}

/// An owned `AVFrame` (freed in `deinit`). Reused across decodes: callers `unref()` after use.
final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>
    /// Where `init(width:height:pixelFormat:)` frames take their picture buffers (nil for frames filled by others).
    private var pool: PicturePool?

    init() throws(MediaError) {
        guard let p = av_frame_alloc() else {
            throw MediaError.ffmpeg(operation: "av_frame_alloc", code: aura_averror(ENOMEM), message: "out of memory")
        }
        pointer = p
    }

    /// A frame with its own picture buffer of the given size and pixel format, renewed from a pool of that shape
    /// (`renewIfShared`).
    convenience init(width: Int, height: Int, pixelFormat: AVPixelFormat) throws(MediaError) {
        try self.init()
        pointer.pointee.width = Int32(width)
        pointer.pointee.height = Int32(height)
        pointer.pointee.format = pixelFormat.rawValue
        pool = PicturePool(width: Int32(width), height: Int32(height), format: pixelFormat.rawValue)
        try allocatePicture()
    }

    deinit {
        var p: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&p)
    }

    func unref() { av_frame_unref(pointer) }

    /// Makes the picture buffer this frame's own before it is overwritten whole: when someone else still holds a
    /// reference (an encoder, the picture repeated into gaps), a fresh buffer of the same shape replaces it, without
    /// copying what is about to be overwritten (`av_frame_make_writable` would copy it).
    func renewIfShared() throws(MediaError) {
        guard av_frame_is_writable(pointer) == 0 else { return }
        let (width, height, format) = (pointer.pointee.width, pointer.pointee.height, pointer.pointee.format)
        av_frame_unref(pointer)
        pointer.pointee.width = width
        pointer.pointee.height = height
        pointer.pointee.format = format
        try allocatePicture()
    }

    /// A picture buffer for the frame's shape: from its pool when the shape is the pool's, else a fresh one.
    private func allocatePicture() throws(MediaError) {
        if let pool, pool.fits(pointer) { return try pool.fill(pointer) }
        try FFmpegResult.check(av_frame_get_buffer(pointer, 0), "av_frame_get_buffer")
    }
}
