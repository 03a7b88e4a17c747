import CFFmpeg

/// The dynamic range a video stream's transfer function says it has.
public enum HDRTransfer: String, Sendable, Codable {
    /// SMPTE ST 2084 (PQ): cinema, drone and HDR10 cameras.
    case pq
    /// ARIB STD-B67 (HLG): phones and broadcast.
    case hlg
}

/// A video stream's colour as its tags say, in libav's enumerations (`AVColorPrimaries`, `AVColorTransferCharacteristic`,
/// `AVColorSpace`, `AVColorRange` raw values), plus the brightest light its metadata states.
public struct SourceColour: Sendable, Equatable {
    public var primaries: Int32
    public var transfer: Int32
    public var matrix: Int32
    public var range: Int32
    /// MaxCLL, else the mastering display's peak, in cd/m²; nil when the stream says neither.
    public var peakLuminance: Double?

    public init(primaries: Int32, transfer: Int32, matrix: Int32, range: Int32, peakLuminance: Double? = nil) {
        self.primaries = primaries
        self.transfer = transfer
        self.matrix = matrix
        self.range = range
        self.peakLuminance = peakLuminance
    }

    /// BT.709 in every respect, limited range: what every picture the server makes is.
    public static let bt709 = SourceColour(
        primaries: Int32(AVCOL_PRI_BT709.rawValue), transfer: Int32(AVCOL_TRC_BT709.rawValue),
        matrix: Int32(AVCOL_SPC_BT709.rawValue), range: Int32(AVCOL_RANGE_MPEG.rawValue))

    /// The colour of a stream's codec parameters.
    init(stream: UnsafeMutablePointer<AVStream>) {
        let par = stream.pointee.codecpar.pointee
        let peak = aura_stream_peak_luminance(stream)
        self.init(
            primaries: Int32(par.color_primaries.rawValue), transfer: Int32(par.color_trc.rawValue),
            matrix: Int32(par.color_space.rawValue), range: Int32(par.color_range.rawValue),
            peakLuminance: peak > 0 ? peak : nil)
    }

    /// PQ or HLG, from the transfer tag.
    public var hdr: HDRTransfer? {
        switch UInt32(bitPattern: transfer) {
        case AVCOL_TRC_SMPTE2084.rawValue: .pq
        case AVCOL_TRC_ARIB_STD_B67.rawValue: .hlg
        default: nil
        }
    }

    /// Primaries wider than BT.709's: BT.2020, DCI-P3 and Display P3.
    public var isWideGamut: Bool {
        [AVCOL_PRI_BT2020.rawValue, AVCOL_PRI_SMPTE431.rawValue, AVCOL_PRI_SMPTE432.rawValue].contains(UInt32(bitPattern: primaries))
    }

    /// Whether the YUV matrix is SD's (BT.601: smpte170m or bt470bg).
    var hasSDMatrix: Bool {
        [AVCOL_SPC_SMPTE170M.rawValue, AVCOL_SPC_BT470BG.rawValue].contains(UInt32(bitPattern: matrix))
    }

    /// Whether the YUV matrix is BT.2020's.
    var hasBT2020Matrix: Bool {
        [AVCOL_SPC_BT2020_NCL.rawValue, AVCOL_SPC_BT2020_CL.rawValue].contains(UInt32(bitPattern: matrix))
    }
}

/// The order of a frame's two fields, or none (progressive).
public enum FieldOrder: String, Sendable, Codable {
    case progressive
    /// Top field first (1080i50 from most cameras, PAL DV is bottom first).
    case topFieldFirst
    case bottomFieldFirst

    /// The order a stream's codec parameters state when they say interlaced (`tt`/`tb` top first, `bb`/`bt` bottom
    /// first); nil when they say progressive or nothing.
    init?(tagged stream: UnsafeMutablePointer<AVStream>) {
        switch stream.pointee.codecpar.pointee.field_order {
        case AV_FIELD_TT, AV_FIELD_TB: self = .topFieldFirst
        case AV_FIELD_BB, AV_FIELD_BT: self = .bottomFieldFirst
        default: return nil
        }
    }
}

/// What turning a source's pictures into SDR BT.709 pictures takes: the colour conversion its tags call for and
/// the deinterlacing its fields call for. Decided once per source and applied by `PictureConverter` to every picture
/// of proxies and frames alike.
///
/// - **HDR** (PQ, HLG): to linear light with HDR reference white (203 cd/m², BT.2408) at 1.0, primaries to BT.709,
///   then the Möbius curve of libavfilter's `tonemap`, knee 0.9: identity up to 90 % of reference white, then a
///   smooth roll-off that brings the content's peak (MaxCLL, else the mastering display's peak, else 1000 cd/m²) to
///   SDR white, colour ratios kept (max-RGB). Then BT.709's transfer, rounded once to 8 bits. Video (proxies) does
///   all of it in one pass after scaling (`HDRToSDR`); other pictures through zscale around `aura_tonemap_mobius`.
/// - **Wide gamut SDR** (BT.2020, P3): primaries mapped to BT.709 in linear light by `zscale`.
/// - **SD matrix** (BT.601) for a video output: the matrix converted to BT.709, so every proxy is tagged BT.709; and
///   the other way for JPEG, whose YCbCr is BT.601's by definition (JFIF).
/// - **High bit depth** (10, 12 bits): zscale's float path to 8 bits (swscale's skips levels on the way to RGB).
/// - **Interlaced**: `bwdif` (send_frame: one picture per source frame) at the source's size, before scaling.
///
/// The colour path works in 32-bit float (zscale, tonemap) from the source's own bit depth and rounds once to 8 bits at
/// the end: 10-bit and 4:2:2 sources get no banding an 8-bit source would not have, and no dither noise for the
/// encoder to spend bits on. Everything else (8-bit BT.709 progressive) takes swscale alone.
public struct PictureProcessing: Sendable, Equatable {
    public var colour: SourceColour
    public var fieldOrder: FieldOrder
    /// The coded picture height: untagged pictures under 720 lines are taken as SD (BT.601), as players do.
    public var sourceHeight: Int
    /// Bits per sample of the decoded pictures (8, 10, 12).
    public var bitDepth: Int

    public init(colour: SourceColour, fieldOrder: FieldOrder, sourceHeight: Int, bitDepth: Int = 8) {
        self.colour = colour
        self.fieldOrder = fieldOrder
        self.sourceHeight = sourceHeight
        self.bitDepth = bitDepth
    }

    /// The processing of a video stream whose field order is known.
    init(stream: UnsafeMutablePointer<AVStream>, fieldOrder: FieldOrder) {
        let par = stream.pointee.codecpar.pointee
        let depth = av_pix_fmt_desc_get(AVPixelFormat(rawValue: par.format)).map { Int($0.pointee.comp.0.depth) } ?? 8
        self.init(colour: SourceColour(stream: stream), fieldOrder: fieldOrder, sourceHeight: Int(par.height), bitDepth: depth)
    }

    /// Whether `path`'s tags alone call for processing a video proxy (HDR, wide gamut, a BT.2020 or SD matrix, more
    /// than 8 bits, fields): what tells a proxy made before picture processing from one that is still right. Reads the
    /// header only; unflagged interlacing is not looked for. Blocking.
    public static func tagsCallForProcessing(path: String) throws(MediaError) -> Bool {
        let source = try MediaSource(path: path, quickAnalysis: true)
        let stream = try source.pictureStream()
        let processing = PictureProcessing(stream: stream, fieldOrder: FieldOrder(tagged: stream) ?? .progressive)
        return processing.deinterlaces || processing.convertsColour(for: .video(AV_PIX_FMT_YUV420P))
    }

    /// The YUV matrix the pictures are in (SWS_CS_*), the unspecified resolved by size: for swscale where YUV meets
    /// RGB.
    var swscaleMatrix: Int32 {
        switch UInt32(bitPattern: colour.matrix) {
        case AVCOL_SPC_BT709.rawValue: SWS_CS_ITU709
        case AVCOL_SPC_SMPTE170M.rawValue, AVCOL_SPC_BT470BG.rawValue: SWS_CS_ITU601
        case AVCOL_SPC_BT2020_NCL.rawValue, AVCOL_SPC_BT2020_CL.rawValue: SWS_CS_BT2020
        default: sourceHeight >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601
        }
    }

    /// `swscaleMatrix` in the scale filter's words.
    private var scaleMatrixName: String {
        switch swscaleMatrix {
        case SWS_CS_ITU709: "bt709"
        case SWS_CS_BT2020: "bt2020"
        default: "bt601"
        }
    }

    /// Whether a JPEG of these pictures needs its YCbCr converted: JFIF's is BT.601's, so an HD picture's BT.709 values
    /// are converted (through RGB, by swscale), not relabelled.
    var convertsMatrixForJPEG: Bool { !hasSDMatrix }

    /// Whether the source's matrix is BT.601's, tagged or (under 720 lines) untagged.
    var hasSDMatrix: Bool {
        colour.hasSDMatrix || (colour.matrix == Int32(AVCOL_SPC_UNSPECIFIED.rawValue) && sourceHeight < 720)
    }

    /// HDR reference white, cd/m² (ITU-R BT.2408): where SDR white goes.
    public static let referenceWhite = 203.0
    /// The peak assumed for HDR with no metadata, cd/m² (HLG's nominal display; most PQ grading displays).
    public static let defaultPeak = 1000.0
    /// The Möbius curve's knee, as a fraction of reference white.
    public static let toneMappingKnee = 0.9

    /// Whether pictures are tone-mapped from HDR.
    public var toneMaps: Bool { colour.hdr != nil }
    /// Whether pictures are deinterlaced.
    public var deinterlaces: Bool { fieldOrder != .progressive }

    /// The pictures a converter makes.
    enum Output: Equatable {
        /// Video for an encoder: yuv420p or nv12, BT.709 limited range (or full range kept, without conversion).
        case video(AVPixelFormat)
        /// JPEG's full-range BT.601 YUV 4:2:0 (yuvj420p).
        case jpeg
        /// Packed 8-bit RGB (rgb24 or rgba).
        case rgb(AVPixelFormat)
    }

    /// Whether the colour needs libavfilter (zscale) for this output; false when swscale's conversion is right.
    /// High-bit-depth pictures always take zscale: swscale's path from 10 bits to 8-bit RGB skips levels (a 10-bit
    /// ramp over 24 8-bit levels came out with 21, steps of 2), zscale's float path keeps every one.
    func convertsColour(for output: Output) -> Bool {
        if colour.hdr != nil || colour.isWideGamut || colour.hasBT2020Matrix || bitDepth > 8 { return true }
        switch output {
        case .video: return hasSDMatrix
        // JPEG from BT.709 YUV goes through RGB on swscale (`convertsMatrixForJPEG`); RGB takes the matrix there too.
        case .jpeg, .rgb: return false
        }
    }

    /// How a converter makes its pictures when swscale alone does not: a libavfilter graph, and for HDR either the
    /// one-pass conversion after it (`HDRToSDR`: video outputs) or the tone mapping between it and a second graph.
    /// `aura_tonemap_mobius` (CPictureKernels) is libavfilter's `tonemap=mobius` in one tight loop over the frame: measured
    /// 2.6 s against 0.3 s of CPU for 200 pictures at 1280x720 with the same output (`filterDescription` is the
    /// all-libavfilter chain, and tests compare both ways with it).
    struct FilterPlan: Equatable {
        /// The graph from decoded frames: for HDR it ends in linear-light float RGB (gbrpf32le), or in the 4:2:0
        /// high-bit-depth pictures `kernel` takes.
        var graph: String
        /// HDR video: the one pass from the graph's pictures to the output.
        var kernel: HDRToSDR?
        /// HDR: the Möbius curve's knee and the content's peak, relative to reference white.
        var toneMapping: (knee: Float, peak: Float)?
        /// HDR: the graph after tone mapping, from linear float RGB to the output.
        var finish: String?

        static func == (lhs: FilterPlan, rhs: FilterPlan) -> Bool {
            lhs.graph == rhs.graph && lhs.finish == rhs.finish && lhs.toneMapping?.knee == rhs.toneMapping?.knee
                && lhs.toneMapping?.peak == rhs.toneMapping?.peak && lhs.kernel?.inputFormat == rhs.kernel?.inputFormat
        }
    }

    /// The plan that makes `width`×`height` pictures of `output` from this source's decoded frames, or nil when
    /// swscale alone does it (no colour conversion, no deinterlacing). `peakLuminance` is the content's peak in cd/m²
    /// when known (stream or first frame metadata).
    func filterPlan(width: Int, height: Int, output: Output, peakLuminance: Double?, oneHDRPass: Bool = true) -> FilterPlan? {
        guard let chain = filterChain(width: width, height: height, output: output, peakLuminance: peakLuminance) else { return nil }
        guard let toneMapping = chain.toneMapping else { return FilterPlan(graph: chain.before.joined(separator: ",")) }
        if oneHDRPass, output == .video(AV_PIX_FMT_YUV420P), let kernel = HDRToSDR(self, peak: toneMapping) {
            let scaling = geometryFilters(width: width, height: height) + ["format=\(Self.name(of: kernel.inputFormat))"]
            return FilterPlan(graph: scaling.joined(separator: ","), kernel: kernel)
        }
        return FilterPlan(
            graph: chain.before.joined(separator: ","), toneMapping: (Float(Self.toneMappingKnee), Float(toneMapping)),
            finish: chain.after.joined(separator: ","))
    }

    /// The same pictures made by libavfilter alone (its `tonemap` filter where the plan maps tones itself): the
    /// reference the plan is checked against.
    func filterDescription(width: Int, height: Int, output: Output, peakLuminance: Double?) -> String? {
        guard let chain = filterChain(width: width, height: height, output: output, peakLuminance: peakLuminance) else { return nil }
        let toneMap = chain.toneMapping.map { ["tonemap=tonemap=mobius:param=\(Self.toneMappingKnee):desat=0:peak=\($0)"] } ?? []
        return (chain.before + toneMap + chain.after).joined(separator: ",")
    }

    /// The filters before tone mapping, the peak to map (relative to reference white; nil for SDR), and the filters
    /// after it.
    private func filterChain(
        width: Int, height: Int, output: Output, peakLuminance: Double?
    ) -> (before: [String], toneMapping: Double?, after: [String])? {
        let colourManaged = convertsColour(for: output)
        guard colourManaged || deinterlaces else { return nil }
        var filters = geometryFilters(width: width, height: height)
        if colourManaged {
            let input = zscaleInput()
            let (matrix, range, format) = finalForm(of: output)
            if colour.hdr != nil {
                let peak = max(1, (peakLuminance ?? Self.defaultPeak) / Self.referenceWhite)
                filters.append("zscale=\(input):t=linear:npl=\(Self.referenceWhite):p=709")
                filters.append("format=gbrpf32le")
                return (filters, peak, ["zscale=tin=linear:pin=709:t=709:m=\(matrix):r=\(range):f=bicubic"] + format)
            } else {
                filters.append("zscale=\(input):t=709:p=709:m=\(matrix):r=\(range):f=bicubic")
            }
            filters.append(contentsOf: format)
        } else {
            filters.append(contentsOf: scaledForm(of: output))
        }
        return (filters, nil, [])
    }

    /// Deinterlacing, then scaling in the source's own signal: colour work then runs at the output's size (a ninth of a
    /// 4K frame for Preview). Bicubic, as the swscale path. The YUV matrix is stated, not left to the frames' tags:
    /// untagged pictures follow the size rule (as swscale's path does), and RGB outputs need it.
    private func geometryFilters(width: Int, height: Int) -> [String] {
        var filters: [String] = []
        if deinterlaces {
            filters.append("bwdif=mode=send_frame:parity=\(fieldOrder == .topFieldFirst ? "tff" : "bff"):deint=all")
        }
        filters.append("scale=w=\(width):h=\(height):flags=bicubic:in_color_matrix=\(scaleMatrixName)")
        return filters
    }

    /// zscale's input options from the tags, with the defaults players use for what is unspecified.
    private func zscaleInput() -> String {
        let unspecifiedPrimaries = Int32(AVCOL_PRI_UNSPECIFIED.rawValue), unspecifiedSpace = Int32(AVCOL_SPC_UNSPECIFIED.rawValue)
        let hd = sourceHeight >= 720
        // Only wide gamuts are mapped: SD's primaries (SMPTE C, EBU) are within a few per cent of BT.709's, and players
        // and editors show SD as BT.709 colours with the SD matrix; mapping them would tint saturated colours.
        let primaries =
            colour.isWideGamut
            ? UInt32(bitPattern: colour.primaries)
            : colour.hdr != nil && colour.primaries == unspecifiedPrimaries ? AVCOL_PRI_BT2020.rawValue : AVCOL_PRI_BT709.rawValue
        let matrix =
            colour.matrix == unspecifiedSpace || colour.matrix == Int32(AVCOL_SPC_RGB.rawValue)
            ? (colour.hdr != nil || primaries == AVCOL_PRI_BT2020.rawValue
                ? AVCOL_SPC_BT2020_NCL.rawValue : hd ? AVCOL_SPC_BT709.rawValue : AVCOL_SPC_SMPTE170M.rawValue)
            : UInt32(bitPattern: colour.matrix)
        var transfer = UInt32(bitPattern: colour.transfer)
        if transfer == AVCOL_TRC_UNSPECIFIED.rawValue || transfer == AVCOL_TRC_RESERVED0.rawValue { transfer = AVCOL_TRC_BT709.rawValue }
        let range = colour.range == Int32(AVCOL_RANGE_JPEG.rawValue) ? "full" : "limited"
        return "pin=\(primaries):tin=\(transfer):min=\(matrix):rin=\(range)"
    }

    /// The colour path's last step: zscale's output matrix and range, then the formats that end the graph.
    private func finalForm(of output: Output) -> (matrix: String, range: String, formats: [String]) {
        switch output {
        case .video(let format): ("709", "limited", ["format=\(Self.name(of: format))"])
        // The frame is relabelled yuvj420p by the converter (the same planes, JPEG's name for full range).
        case .jpeg: ("470bg", "full", ["format=yuv420p"])
        case .rgb(let format): ("709", "full", ["format=gbrp", "format=\(Self.name(of: format))"])
        }
    }

    /// After deinterlacing alone: the scale filter's pixel format (its YUV→RGB matrix follows the frames' tags).
    private func scaledForm(of output: Output) -> [String] {
        switch output {
        case .video(let format): ["format=\(Self.name(of: format))"]
        case .jpeg: ["format=yuvj420p"]
        case .rgb(let format): ["format=\(Self.name(of: format))"]
        }
    }

    static func name(of format: AVPixelFormat) -> String {
        av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "yuv420p"
    }
}
