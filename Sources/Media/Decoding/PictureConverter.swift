import CFFmpeg
import CPictureKernels

/// Turns decoded pictures of any size, format and colour into upright SDR BT.709 pictures of a chosen size and pixel
/// format (a proxy encoder's yuv420p, a thumbnail's rgba or yuvj420p), as `PictureProcessing` says:
/// - most sources: swscale (threaded) to the pre-rotation size;
/// - video of a source at least twice the output's size either way: first reduced by that whole factor
///   (`AreaReduction`), so the scaler has little or nothing left to do;
/// - HDR, wide-gamut, SD-matrix, high-bit-depth or interlaced sources: a libavfilter graph (bwdif, scale, zscale),
///   built at the first picture (HDR metadata may come with it) and again when the decoded shape changes; for HDR
///   video the graph only scales and `HDRToSDR` converts in one pass; for HDR pictures of other formats the graph
///   ends in linear light, the tones are mapped in place (`aura_tonemap_mobius`) and a second graph finishes;
/// then a quarter-turn in C for rotated sources.
///
/// Pictures go in with `convert` and come out through `emit`, with their timestamps (`pts`, in the source stream's
/// time base). swscale gives one picture per picture at once; the graph may hold one back (bwdif looks at the next
/// frame) until the next `convert` or `finish`.
///
/// Invariant: an emitted frame belongs to the converter and is valid until the next `convert` or `finish` call; an
/// encoder or the caller may still hold a reference, so a buffer still referenced is replaced, not copied, before reuse.
final class PictureConverter {
    let width: Int, height: Int
    let clockwiseRotation: Int
    let pixelFormat: AVPixelFormat
    let processing: PictureProcessing?
    /// `processing` as it applies to the pictures after the reduction: at 8 bits when the reduction rounds them to 8
    /// bits, so a 10-bit BT.709 source then takes swscale alone.
    private var pictureProcessing: PictureProcessing?
    private let fullRange: Bool
    private let oneHDRPass: Bool
    private let threads: Int
    private let timeBase: AVRational
    private let output: PictureProcessing.Output
    private let scaled: Frame
    /// JPEG of BT.709 pictures: `scaled` holds RGB, converted again into this with JFIF's BT.601 matrix.
    private let jfif: Frame?
    private var toJFIF: Scaler?
    private let filtered: Frame
    private let upright: Frame?
    private var scaler: Scaler?
    private var graph: FilterGraph?
    /// HDR video: the one pass from the graph's pictures to the output.
    private var kernel: HDRToSDR?
    /// HDR otherwise: the tone mapping applied to the graph's pictures, and the graph that takes them on.
    private var toneMapping: (knee: Float, peak: Float)?
    private var finishing: FilterGraph?
    /// The second graph's description (HDR), built at its first picture.
    private var finishingDescription: String?
    private let linear: Frame
    /// The decoded shape the graph was built for (width, height, pixel format).
    private var graphInput: (Int32, Int32, Int32)?
    /// Video of a source at least twice the output's size: the decoded pictures reduced by that whole factor first;
    /// decided once per decoded shape (width, height, pixel format).
    private var reduction: AreaReduction?
    private var reductionDecidedFor: (Int32, Int32, Int32)?
    /// Bicubic: the measured SSIM/speed sweet spot (fast_bilinear loses ~0.004 SSIM).
    static let scalerFlags = Int32(SWS_BICUBIC)

    /// - Parameters:
    ///   - processing: the source's colour and scan (nil: taken as BT.709 progressive, swscale alone).
    ///   - timeBase: the unit of the decoded frames' timestamps.
    ///   - oneHDRPass: HDR video in one pass (`HDRToSDR`); false takes the tone mapping between two graphs instead,
    ///     as other outputs do (tests compare the two).
    init(
        width: Int, height: Int, clockwiseRotation: Int, pixelFormat: AVPixelFormat, fullRange: Bool, threads: Int,
        processing: PictureProcessing? = nil, timeBase: AVRational = AVRational(num: 1, den: 90_000), oneHDRPass: Bool = true
    ) throws(MediaError) {
        self.oneHDRPass = oneHDRPass
        self.width = width
        self.height = height
        self.clockwiseRotation = clockwiseRotation
        self.pixelFormat = pixelFormat
        self.fullRange = fullRange
        self.threads = threads
        self.processing = processing
        pictureProcessing = processing
        self.timeBase = timeBase
        switch pixelFormat {
        case AV_PIX_FMT_YUVJ420P: output = .jpeg
        case AV_PIX_FMT_RGB24, AV_PIX_FMT_RGBA: output = .rgb(pixelFormat)
        default: output = .video(pixelFormat)
        }
        let swapped = clockwiseRotation == 90 || clockwiseRotation == 270
        let (scaledWidth, scaledHeight) = swapped ? (height, width) : (width, height)
        let viaRGB = output == .jpeg && processing?.convertsMatrixForJPEG == true
        scaled = try Frame(width: scaledWidth, height: scaledHeight, pixelFormat: viaRGB ? AV_PIX_FMT_RGB24 : pixelFormat)
        jfif = viaRGB ? try Frame(width: scaledWidth, height: scaledHeight, pixelFormat: pixelFormat) : nil
        filtered = try Frame()
        linear = try Frame()
        upright = clockwiseRotation == 0 ? nil : try Frame(width: width, height: height, pixelFormat: pixelFormat)
    }

    /// Whether pictures need their neighbours (deinterlacing looks at the previous and next frames).
    var deinterlaces: Bool { processing?.deinterlaces ?? false }

    /// Whether the colour is converted by libavfilter (`PictureProcessing.convertsColour`: HDR, wide gamut, an SD matrix
    /// for video or an HD one for JPEG, more than 8 bits) rather than passed through by swscale.
    var convertsColour: Bool { pictureProcessing?.convertsColour(for: output) ?? false }

    /// Converts one decoded picture; `emit` gets every picture that is ready (none, one, or with a changed shape
    /// two).
    func convert(
        _ source: UnsafeMutablePointer<AVFrame>, emit: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void
    ) throws(MediaError) {
        source.pointee.pts = StreamDecoder.timestamp(of: source) ?? aura_nopts_value()
        let decoded = source
        let source = try reduced(decoded)
        if let processing = pictureProcessing {
            let shape = (source.pointee.width, source.pointee.height, source.pointee.format)
            if graphInput.map({ $0 != shape }) ?? true {
                try finish(emit: emit)
                let frameSidePeak = aura_frame_peak_luminance(decoded)
                let plan = processing.filterPlan(
                    width: Int(scaled.pointer.pointee.width), height: Int(scaled.pointer.pointee.height), output: output,
                    peakLuminance: processing.colour.peakLuminance ?? (frameSidePeak > 0 ? frameSidePeak : nil),
                    oneHDRPass: oneHDRPass)
                graph = try plan.map { plan throws(MediaError) in
                    try FilterGraph(plan.graph, input: source, timeBase: timeBase, threads: threads)
                }
                kernel = plan?.kernel
                toneMapping = plan?.toneMapping
                finishingDescription = plan?.finish
                graphInput = shape
            }
            if let graph {
                try graph.push(source)
                try drain(graph, emit: emit)
                return
            }
        }
        let scaledFormat = AVPixelFormat(rawValue: scaled.pointer.pointee.format)
        if scaler == nil || !(scaler!.matches(source)) {
            scaler = try Scaler(
                sourceWidth: source.pointee.width, sourceHeight: source.pointee.height,
                sourceFormat: source.pointee.format, fullRange: fullRange,
                destinationWidth: Int(scaled.pointer.pointee.width),
                destinationHeight: Int(scaled.pointer.pointee.height),
                destinationFormat: scaledFormat, flags: Self.scalerFlags, threads: threads,
                sourceMatrix: processing?.swscaleMatrix ?? SWS_CS_DEFAULT, destinationMatrix: destinationMatrix)
        }
        try scaled.renewIfShared()
        try scaler!.scale(source, into: scaled.pointer)
        scaled.pointer.pointee.pts = source.pointee.pts
        guard let jfif else { return try emit(upright(scaled.pointer)) }
        // RGB to JFIF's full-range BT.601 YCbCr, at the output's size (a few hundred thousand pixels at most).
        if toJFIF == nil {
            toJFIF = try Scaler(
                sourceWidth: scaled.pointer.pointee.width, sourceHeight: scaled.pointer.pointee.height,
                sourceFormat: scaled.pointer.pointee.format, fullRange: true,
                destinationWidth: Int(jfif.pointer.pointee.width), destinationHeight: Int(jfif.pointer.pointee.height),
                destinationFormat: pixelFormat, flags: Self.scalerFlags, threads: 1, destinationMatrix: SWS_CS_ITU601)
        }
        try jfif.renewIfShared()
        try toJFIF!.scale(scaled.pointer, into: jfif.pointer)
        jfif.pointer.pointee.pts = source.pointee.pts
        try emit(upright(jfif.pointer))
    }

    /// Ends the stream: pictures the graph still holds come out. A later `convert` starts a new graph.
    func finish(emit: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void) throws(MediaError) {
        guard let graph else { return }
        try graph.push(nil)
        try drain(graph, emit: emit)
        if let finishing {
            try finishing.push(nil)
            try drainFinishing(finishing, emit: emit)
        }
        self.graph = nil
        finishing = nil
        graphInput = nil
    }

    /// The picture of `current`, deinterlaced with its neighbours when the source is interlaced: one picture, for a
    /// still. Starts and ends a graph of its own.
    func picture(
        of current: UnsafeMutablePointer<AVFrame>, previous: UnsafeMutablePointer<AVFrame>?,
        next: UnsafeMutablePointer<AVFrame>?, emit: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void
    ) throws(MediaError) {
        try finish { _ throws(MediaError) in }
        // Timestamps 1, 2, 3: the graph needs them increasing; the current picture is 2.
        var delivered = false
        func take(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
            guard frame.pointee.pts == 2, !delivered else { return }
            delivered = true
            try emit(frame)
        }
        for (frame, stamp) in [(previous, Int64(1)), (current, 2), (next, 3)] {
            guard let frame else { continue }
            let copy = try Frame()
            try FFmpegResult.check(av_frame_ref(copy.pointer, frame), "av_frame_ref")
            copy.pointer.pointee.best_effort_timestamp = stamp
            copy.pointer.pointee.pts = stamp
            try convert(copy.pointer, emit: take)
        }
        try finish(emit: take)
        if !delivered {
            throw MediaError.ffmpeg(operation: "PictureConverter.picture", code: aura_averror(EINVAL), message: "no picture came out")
        }
    }

    /// `source`, or its area reduction when the output is video at half its size or less (`AreaReduction`). The
    /// reduction rounds deeper samples to 8 bits when nothing else calls for the colour graph (limited range, and at 8
    /// bits the source's colour would need no conversion: a 10-bit BT.709 camera file).
    private func reduced(_ source: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> UnsafeMutablePointer<AVFrame> {
        guard case .video = output, !deinterlaces else { return source }
        let shape = (source.pointee.width, source.pointee.height, source.pointee.format)
        if reductionDecidedFor.map({ $0 != shape }) ?? true {
            let eightBitProcessing = processing.map {
                PictureProcessing(colour: $0.colour, fieldOrder: $0.fieldOrder, sourceHeight: $0.sourceHeight, bitDepth: 8)
            }
            let fullRangeSamples = source.pointee.color_range == AVCOL_RANGE_JPEG || processing?.colour.range == Int32(AVCOL_RANGE_JPEG.rawValue)
            let eightBit = !fullRangeSamples && !(eightBitProcessing?.convertsColour(for: output) ?? false)
            reduction = AreaReduction(
                source: source, width: Int(scaled.pointer.pointee.width), height: Int(scaled.pointer.pointee.height),
                eightBit: eightBit)
            pictureProcessing = reduction?.roundsToEightBits == true ? eightBitProcessing : processing
            reductionDecidedFor = shape
        }
        return try reduction?.reduce(source) ?? source
    }

    /// The YUV matrix of the pictures made: BT.709 for video, BT.601 for JPEG (JFIF's).
    private var destinationMatrix: Int32 {
        if case .video = output { return SWS_CS_ITU709 }
        return SWS_CS_ITU601
    }

    /// Pulls every ready picture out of the graph (for HDR: converts it in one pass, or maps its tones and hands it to
    /// the finishing graph).
    private func drain(_ graph: FilterGraph, emit: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void) throws(MediaError) {
        if let kernel {
            while true {
                linear.unref()
                guard try graph.pull(into: linear.pointer) else { return }
                try scaled.renewIfShared()
                kernel.convert(linear.pointer, into: scaled.pointer, bands: threads)
                scaled.pointer.pointee.color_range = AVCOL_RANGE_MPEG
                Self.tagBT709(scaled.pointer)
                try emit(upright(scaled.pointer))
            }
        }
        guard let toneMapping, let finishingDescription else { return try drainFinishing(graph, emit: emit) }
        while true {
            linear.unref()
            guard try graph.pull(into: linear.pointer) else { return }
            try FFmpegResult.check(av_frame_make_writable(linear.pointer), "av_frame_make_writable")
            let frame = linear.pointer
            let planes = (0..<3).map { frame.plane($0).map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: Float.self) } }
            let strides = (0..<3).map { Int(frame.stride($0)) }
            aura_tonemap_mobius(planes, strides, frame.pointee.width, frame.pointee.height, aura_mobius(toneMapping.knee, toneMapping.peak))
            if finishing == nil {
                finishing = try FilterGraph(finishingDescription, input: linear.pointer, timeBase: timeBase, threads: threads)
            }
            try finishing!.push(linear.pointer)
            try drainFinishing(finishing!, emit: emit)
        }
    }

    /// Pulls every ready picture out of the graph that makes the output.
    private func drainFinishing(_ graph: FilterGraph, emit: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void) throws(MediaError) {
        while true {
            filtered.unref()
            guard try graph.pull(into: filtered.pointer) else { return }
            // The colour path ends in full-range yuv420p for JPEG: the same planes as yuvj420p, which mjpeg asks for.
            if output == .jpeg { filtered.pointer.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue }
            if convertsColour { Self.tagBT709(filtered.pointer) }
            try emit(upright(filtered.pointer))
        }
    }

    /// Tags a converted picture as what it now is: BT.709 (JPEG's matrix is BT.601 by definition, not tagged).
    private static func tagBT709(_ frame: UnsafeMutablePointer<AVFrame>) {
        frame.pointee.color_primaries = AVCOL_PRI_BT709
        frame.pointee.color_trc = AVCOL_TRC_BT709
        if frame.pointee.format != AV_PIX_FMT_YUVJ420P.rawValue { frame.pointee.colorspace = AVCOL_SPC_BT709 }
    }

    /// `frame` turned upright into `upright` (timestamp kept), or itself when the source is not rotated.
    private func upright(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> UnsafeMutablePointer<AVFrame> {
        guard let upright else { return frame }
        try upright.renewIfShared()
        rotate(frame, into: upright.pointer)
        upright.pointer.pointee.pts = frame.pointee.pts
        upright.pointer.pointee.color_range = frame.pointee.color_range
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
        for plane in 0..<planes {
            let chroma = plane == 1 || plane == 2
            var pw = chroma ? -((-w) >> Int32(descriptor.pointee.log2_chroma_w)) : w
            let ph = chroma ? -((-h) >> Int32(descriptor.pointee.log2_chroma_h)) : h
            let bytes: Int32 = chroma && interleavedChroma ? 2 : (plane == 0 ? packedBytes : 1)
            if chroma && interleavedChroma { pw = (w + 1) / 2 }
            aura_rotate_plane(
                src.plane(plane), src.stride(plane), pw, ph, dst.plane(plane), dst.stride(plane), bytes, Int32(clockwiseRotation))
        }
    }
}
