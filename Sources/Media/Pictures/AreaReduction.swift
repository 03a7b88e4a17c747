import CFFmpeg
import CPictureKernels

/// Reduces pictures by a whole factor, each output sample the mean of a factor×factor block
/// (`aura_box_reduce_plane`), before they are scaled to a video output at least that many times smaller: a 4K
/// source's Preview proxy is scaled from 1280x720 (a third each way) rather than from 3840x2160. Bicubic scaling of a
/// 4K picture to 720p was an eighth of the CPU time of a 4K HEVC Preview proxy, as much as x264's encoding; the
/// reduction costs a fraction of that, and the scaler (swscale or the graph's `scale`) then has a small picture to
/// take the rest of the way, or nothing (exact factors pass through). Area averaging is the classic anti-aliasing
/// filter for whole-factor reductions; the bicubic step after it keeps edges as sharp as bicubic alone within the
/// output's own resolution. Planar formats of 8 to 16 bits only; interlaced pictures never (fields would mix).
///
/// With `eightBit`, samples of more than 8 bits come out as 8-bit ones (yuv420p10le as yuv420p), each the block's mean
/// rounded once to 8 bits: for limited-range video that is exactly zscale's depth conversion (code values over 4 for
/// 10 bits), with no second rounding, so no banding. That takes a 10-bit BT.709 source's proxy off the colour graph.
final class AreaReduction {
    let factor: Int
    /// Whether the pictures come out with 8-bit samples from deeper ones.
    let roundsToEightBits: Bool
    private let planes: [(width: Int32, height: Int32, reducedWidth: Int32, reducedHeight: Int32)]
    private let inputBytes: Int32, outputBytes: Int32
    /// Bits dropped from each mean (depth - 8 when rounding to 8 bits, else 0).
    private let shift: Int32
    private let frame: Frame

    /// The reduction of pictures shaped as `source` for an output of `width`×`height`, or nil when the source is
    /// under twice the output's size either way or its format is not plainly planar. `eightBit`: deeper YUV samples
    /// come out 8-bit (other formats keep their depth).
    init?(source: UnsafeMutablePointer<AVFrame>, width: Int, height: Int, eightBit: Bool = false) {
        let w = Int(source.pointee.width), h = Int(source.pointee.height)
        guard width > 0, height > 0 else { return nil }
        let factor = min(w / width, h / height, 16)
        guard factor >= 2, let descriptor = av_pix_fmt_desc_get(AVPixelFormat(rawValue: source.pointee.format)) else { return nil }
        let d = descriptor.pointee
        let unsupported = UInt64(AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BE)
        let planeCount = Int(av_pix_fmt_count_planes(AVPixelFormat(rawValue: source.pointee.format)))
        guard d.flags & unsupported == 0, d.flags & UInt64(AV_PIX_FMT_FLAG_PLANAR) != 0, planeCount == Int(d.nb_components)
        else { return nil }
        let components = withUnsafeBytes(of: d.comp) { Array($0.bindMemory(to: AVComponentDescriptor.self).prefix(planeCount)) }
        let depth = components.first?.depth ?? 0
        guard depth >= 8, depth <= 16, components.allSatisfy({ $0.depth == depth && $0.shift == 0 && $0.step == (depth > 8 ? 2 : 1) })
        else { return nil }
        let reducedWidth = Int32(w / factor), reducedHeight = Int32(h / factor)
        let eightBitFormat = depth > 8 && eightBit ? Self.eightBitFormat(like: d) : nil
        guard
            let frame = try? Frame(
                width: Int(reducedWidth), height: Int(reducedHeight),
                pixelFormat: eightBitFormat ?? AVPixelFormat(rawValue: source.pointee.format))
        else { return nil }
        self.factor = factor
        self.frame = frame
        roundsToEightBits = eightBitFormat != nil
        inputBytes = depth > 8 ? 2 : 1
        outputBytes = roundsToEightBits ? 1 : inputBytes
        shift = roundsToEightBits ? Int32(depth - 8) : 0
        planes = (0..<planeCount).map { plane in
            let chroma = plane == 1 || plane == 2
            let sw = chroma ? Int32(d.log2_chroma_w) : 0, sh = chroma ? Int32(d.log2_chroma_h) : 0
            return (
                -((-source.pointee.width) >> sw), -((-source.pointee.height) >> sh), -((-reducedWidth) >> sw),
                -((-reducedHeight) >> sh)
            )
        }
    }

    /// `source` reduced, with its timestamps, colour tags and scan flags (not its side data). Valid until the next call.
    func reduce(_ source: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> UnsafeMutablePointer<AVFrame> {
        try frame.renewIfShared()
        let destination = frame.pointer
        for (index, plane) in planes.enumerated() {
            aura_box_reduce_plane_bits(
                source.plane(index), Int(source.stride(index)), plane.width, plane.height, destination.plane(index),
                Int(destination.stride(index)), plane.reducedWidth, plane.reducedHeight, Int32(factor), inputBytes,
                outputBytes, shift)
        }
        let (s, d) = (source.pointee, destination)
        d.pointee.pts = s.pts
        d.pointee.pkt_dts = s.pkt_dts
        d.pointee.best_effort_timestamp = s.best_effort_timestamp
        d.pointee.pkt_duration = s.pkt_duration
        d.pointee.color_primaries = s.color_primaries
        d.pointee.color_trc = s.color_trc
        d.pointee.colorspace = s.colorspace
        d.pointee.color_range = s.color_range
        d.pointee.chroma_location = s.chroma_location
        d.pointee.sample_aspect_ratio = s.sample_aspect_ratio
        d.pointee.interlaced_frame = s.interlaced_frame
        d.pointee.top_field_first = s.top_field_first
        return destination
    }

    /// The 8-bit YUV format with the same planes and chroma subsampling (yuv420p for yuv420p10le), or nil.
    private static func eightBitFormat(like descriptor: AVPixFmtDescriptor) -> AVPixelFormat? {
        guard descriptor.nb_components == 3, descriptor.flags & UInt64(AV_PIX_FMT_FLAG_RGB) == 0 else { return nil }
        switch (descriptor.log2_chroma_w, descriptor.log2_chroma_h) {
        case (1, 1): return AV_PIX_FMT_YUV420P
        case (1, 0): return AV_PIX_FMT_YUV422P
        case (0, 0): return AV_PIX_FMT_YUV444P
        default: return nil
        }
    }
}
