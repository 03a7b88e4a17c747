import CFFmpeg

/// Turns decoded pictures of any size and format into upright pictures of a chosen size and pixel format (a
/// proxy encoder's yuv420p, a thumbnail's rgba or yuvj420p): swscale (threaded) to the pre-rotation size, then a
/// quarter-turn in C for rotated sources.
///
/// Invariant: the returned frame belongs to the converter and is valid until the next `convert` call;
/// an encoder may still hold a reference, so buffers are made writable (copy-on-write) before reuse.
final class PictureConverter {
    let width: Int, height: Int
    let clockwiseRotation: Int
    let pixelFormat: AVPixelFormat
    private let fullRange: Bool
    private let threads: Int
    private let scaled: Frame
    private let upright: Frame?
    private var scaler: Scaler?
    /// Bicubic: the measured SSIM/speed sweet spot (fast_bilinear loses ~0.004 SSIM).
    static let scalerFlags = Int32(SWS_BICUBIC)

    init(width: Int, height: Int, clockwiseRotation: Int, pixelFormat: AVPixelFormat, fullRange: Bool, threads: Int) throws(MediaError) {
        self.width = width
        self.height = height
        self.clockwiseRotation = clockwiseRotation
        self.pixelFormat = pixelFormat
        self.fullRange = fullRange
        self.threads = threads
        let swapped = clockwiseRotation == 90 || clockwiseRotation == 270
        scaled = try Frame(width: swapped ? height : width, height: swapped ? width : height, pixelFormat: pixelFormat)
        upright = clockwiseRotation == 0 ? nil : try Frame(width: width, height: height, pixelFormat: pixelFormat)
    }

    func convert(_ source: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> UnsafeMutablePointer<AVFrame> {
        if scaler == nil || !(scaler!.matches(source)) {
            scaler = try Scaler(
                sourceWidth: source.pointee.width, sourceHeight: source.pointee.height,
                sourceFormat: source.pointee.format, fullRange: fullRange,
                destinationWidth: Int(scaled.pointer.pointee.width),
                destinationHeight: Int(scaled.pointer.pointee.height),
                destinationFormat: pixelFormat, flags: Self.scalerFlags, threads: threads)
        }
        try FFmpegResult.check(av_frame_make_writable(scaled.pointer), "av_frame_make_writable")
        try scaler!.scale(source, into: scaled.pointer)
        guard let upright else { return scaled.pointer }
        try FFmpegResult.check(av_frame_make_writable(upright.pointer), "av_frame_make_writable")
        rotate(scaled.pointer, into: upright.pointer)
        return upright.pointer
    }

    /// Rotates each plane; chroma planes use the format's subsampling, NV12's interleaved UV plane is moved as
    /// 2-byte elements, and packed formats (rgba) as one element of their pixel size.
    private func rotate(_ src: UnsafeMutablePointer<AVFrame>, into dst: UnsafeMutablePointer<AVFrame>) {
        guard let descriptor = av_pix_fmt_desc_get(pixelFormat) else { return }
        let planes = Int(av_pix_fmt_count_planes(pixelFormat))
        let interleavedChroma = pixelFormat == AV_PIX_FMT_NV12
        // A one-plane format holds whole pixels (rgba: 4 bytes, gray: 1).
        let packedBytes = planes == 1 ? max(1, Int32(av_get_bits_per_pixel(descriptor) / 8)) : 1
        let w = Int32(src.pointee.width), h = Int32(src.pointee.height)
        withUnsafeMutablePointer(to: &src.pointee.data) { srcData in
            withUnsafeMutablePointer(to: &dst.pointee.data) { dstData in
                srcData.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { s in
                    dstData.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { d in
                        for plane in 0..<planes {
                            let chroma = plane == 1 || plane == 2
                            var pw = chroma ? -((-w) >> Int32(descriptor.pointee.log2_chroma_w)) : w
                            let ph = chroma ? -((-h) >> Int32(descriptor.pointee.log2_chroma_h)) : h
                            let bytes: Int32 = chroma && interleavedChroma ? 2 : (plane == 0 ? packedBytes : 1)
                            if chroma && interleavedChroma { pw = (w + 1) / 2 }
                            let srcStride = withUnsafeBytes(of: src.pointee.linesize) { $0.load(fromByteOffset: plane * 4, as: Int32.self) }
                            let dstStride = withUnsafeBytes(of: dst.pointee.linesize) { $0.load(fromByteOffset: plane * 4, as: Int32.self) }
                            aura_rotate_plane(s[plane], srcStride, pw, ph, d[plane], dstStride, bytes, Int32(clockwiseRotation))
                        }
                    }
                }
            }
        }
    }
}
