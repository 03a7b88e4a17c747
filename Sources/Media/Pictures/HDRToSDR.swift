import CFFmpeg
import CPictureKernels
import Dispatch

/// HDR pictures to SDR BT.709 in one pass over the pixels (`aura_hdr_to_sdr_420`): what the libavfilter chain of
/// `PictureProcessing.filterDescription` does (zscale to linear light, `tonemap=mobius`, zscale back to BT.709 8-bit),
/// with the same transfer functions as zscale's (display-referred: PQ's EOTF, HLG's inverse OETF with its 1.2 system
/// gamma per channel, BT.1886's inverse with gamma 2.4; reference white at 1.0), sampled once per source into tables.
/// The chain costs three float passes and two format conversions per picture: on the 4K HLG benchmark its colour work
/// was 15 % of the CPU time of a Preview proxy (about 14.5 ms per 720p picture with the tone curve's loop); this pass
/// does the same in 6.6 ms.
/// `PictureProcessingTests` holds its pictures to the chain's.
///
/// It takes 4:2:0 pictures of 9 to 16 bits (the graph before it scales to the output's size and converts to
/// `inputFormat`) and makes yuv420p. Chroma is constant over its 2×2 block on the way in and averaged on the way out,
/// where zscale resamples it bicubically: the two differ at sharp chroma edges only.
struct HDRToSDR: Sendable {
    let inputFormat: AVPixelFormat
    private let parameters: Parameters

    /// The tables and coefficients, shared by every picture of a source.
    private final class Parameters: @unchecked Sendable {
        // Immutable after init; the C struct points into the two arrays, which live as long as this object.
        var conversion = AuraHDRToSDR()
        let toLinear: UnsafeMutableBufferPointer<Float>
        let toGamma: UnsafeMutableBufferPointer<Float>

        init(toLinear: [Float], toGamma: [Float]) {
            self.toLinear = .allocate(capacity: toLinear.count)
            _ = self.toLinear.initialize(from: toLinear)
            self.toGamma = .allocate(capacity: toGamma.count)
            _ = self.toGamma.initialize(from: toGamma)
        }

        deinit {
            toLinear.deallocate()
            toGamma.deallocate()
        }
    }

    /// The conversion for `processing`'s HDR source, or nil where it does not apply (not HDR, constant-luminance or
    /// unusual matrices, primaries other than BT.709, BT.2020 and Display P3): the libavfilter chain does those.
    /// `peak` is the content's peak relative to reference white, as the chain's `tonemap` gets it.
    init?(_ processing: PictureProcessing, peak: Double) {
        let colour = processing.colour
        guard let hdr = colour.hdr else { return nil }
        let weights: (kr: Double, kb: Double)
        switch UInt32(bitPattern: colour.matrix) {
        case AVCOL_SPC_BT2020_NCL.rawValue, AVCOL_SPC_UNSPECIFIED.rawValue, AVCOL_SPC_RGB.rawValue: weights = (0.2627, 0.0593)
        case AVCOL_SPC_BT709.rawValue: weights = (0.2126, 0.0722)
        case AVCOL_SPC_SMPTE170M.rawValue, AVCOL_SPC_BT470BG.rawValue: weights = (0.299, 0.114)
        default: return nil
        }
        let sourcePrimaries: Chromaticities
        switch UInt32(bitPattern: colour.primaries) {
        case AVCOL_PRI_BT2020.rawValue, AVCOL_PRI_UNSPECIFIED.rawValue: sourcePrimaries = .bt2020
        case AVCOL_PRI_SMPTE432.rawValue: sourcePrimaries = .displayP3
        case AVCOL_PRI_SMPTE431.rawValue: return nil  // DCI white: zscale adapts it
        // SD and BT.709 primaries stay (as the chain keeps them).
        default: sourcePrimaries = .bt709
        }
        let depth = processing.bitDepth > 10 ? 12 : 10
        inputFormat = depth == 12 ? AV_PIX_FMT_YUV420P12LE : AV_PIX_FMT_YUV420P10LE
        let unit = Double(1 << (depth - 8))
        let full = colour.range == Int32(AVCOL_RANGE_JPEG.rawValue)
        let referenceWhite = PictureProcessing.referenceWhite
        let toLinear: (Double) -> Double
        switch hdr {
        case .pq: toLinear = { Self.pqEOTF($0) * 10_000 / referenceWhite }
        case .hlg: toLinear = { pow(Self.hlgInverseOETF($0), 1.2) * 1000 / referenceWhite }
        }
        let linearTable = (0..<Int(AURA_TO_LINEAR_SIZE)).map { Float(toLinear(Double($0) / Double(AURA_TO_LINEAR_SIZE - 1))) }
        let gammaTable = (0..<Int(AURA_TO_GAMMA_SIZE)).map { Float(pow(Double(aura_to_gamma_value_at(Int32($0))), 1 / 2.4)) }
        let parameters = Parameters(toLinear: linearTable, toGamma: gammaTable)
        var c = AuraHDRToSDR()
        c.y_offset = full ? 0 : Float(16 * unit)
        c.y_scale = Float(full ? 1 / (Double(1 << depth) - 1) : 1 / (219 * unit))
        c.c_offset = Float(128 * unit)
        c.c_scale = Float(full ? 1 / (Double(1 << depth) - 1) : 1 / (224 * unit))
        let kg = 1 - weights.kr - weights.kb
        c.cr_r = Float(2 * (1 - weights.kr))
        c.cb_b = Float(2 * (1 - weights.kb))
        c.cb_g = Float(-2 * (1 - weights.kb) * weights.kb / kg)
        c.cr_g = Float(-2 * (1 - weights.kr) * weights.kr / kg)
        c.to_linear = UnsafePointer(parameters.toLinear.baseAddress)
        let matrix = sourcePrimaries.conversion(to: .bt709)
        withUnsafeMutableBytes(of: &c.primaries) { bytes in
            for (i, value) in matrix.enumerated() { bytes.storeBytes(of: Float(value), toByteOffset: i * 4, as: Float.self) }
        }
        c.curve = aura_mobius(Float(PictureProcessing.toneMappingKnee), Float(max(1, peak)))
        c.to_gamma = UnsafePointer(parameters.toGamma.baseAddress)
        c.kr = 0.2126
        c.kb = 0.0722
        c.kg = 1 - 0.2126 - 0.0722
        c.cb_scale = Float(1 / (2 * (1 - 0.0722)))
        c.cr_scale = Float(1 / (2 * (1 - 0.2126)))
        parameters.conversion = c
        self.parameters = parameters
    }

    /// Converts `source` (`inputFormat`) into `destination` (yuv420p of the same size), in `bands` row bands at once.
    func convert(_ source: UnsafeMutablePointer<AVFrame>, into destination: UnsafeMutablePointer<AVFrame>, bands: Int) {
        let width = Int32(source.pointee.width), height = Int32(source.pointee.height)
        let bands = max(1, min(bands, Int(height) / 64))
        // Even band edges: a band holds whole chroma rows.
        let rowsPerBand = ((Int(height) + bands - 1) / bands + 1) & ~1
        // The planes stay valid for the call; the bands write disjoint rows.
        nonisolated(unsafe) let src: [UnsafePointer<UInt8>?] = (0..<3).map { UnsafePointer(source.plane($0)) }
        nonisolated(unsafe) let dst: [UnsafeMutablePointer<UInt8>?] = (0..<3).map { destination.plane($0) }
        let srcStride = (0..<3).map { Int(source.stride($0)) }, dstStride = (0..<3).map { Int(destination.stride($0)) }
        let parameters = self.parameters
        let run: @Sendable (Int) -> Void = { band in
            let start = Int32(band * rowsPerBand), end = Int32(min(Int(height), (band + 1) * rowsPerBand))
            withUnsafePointer(to: parameters.conversion) { conversion in
                aura_hdr_to_sdr_420(conversion, src, srcStride, dst, dstStride, width, height, start, end)
            }
        }
        if bands == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: bands, execute: run) }
        destination.pointee.pts = source.pointee.pts
    }

    /// SMPTE ST 2084's EOTF, in units of its 10,000 cd/m² peak.
    static func pqEOTF(_ v: Double) -> Double {
        guard v > 0 else { return 0 }
        let m1 = 0.1593017578125, m2 = 78.84375, c1 = 0.8359375, c2 = 18.8515625, c3 = 18.6875
        let p = pow(v, 1 / m2)
        return pow(max(p - c1, 0) / max(c2 - c3 * p, .leastNormalMagnitude), 1 / m1)
    }

    /// ARIB STD-B67's (HLG) inverse OETF: scene light in [0, 1].
    static func hlgInverseOETF(_ v: Double) -> Double {
        let a = 0.17883277, b = 0.28466892, c = 0.55991073
        let x = max(v, 0)
        return x <= 0.5 ? x * x / 3 : (exp((x - c) / a) + b) / 12
    }
}

/// The chromaticities of a set of RGB primaries and their white point (CIE 1931 xy).
struct Chromaticities {
    var red: (Double, Double), green: (Double, Double), blue: (Double, Double), white: (Double, Double)

    static let bt709 = Chromaticities(red: (0.640, 0.330), green: (0.300, 0.600), blue: (0.150, 0.060), white: (0.3127, 0.3290))
    static let bt2020 = Chromaticities(red: (0.708, 0.292), green: (0.170, 0.797), blue: (0.131, 0.046), white: (0.3127, 0.3290))
    static let displayP3 = Chromaticities(red: (0.680, 0.320), green: (0.265, 0.690), blue: (0.150, 0.060), white: (0.3127, 0.3290))

    /// Linear RGB to CIE XYZ (row-major).
    var toXYZ: [Double] {
        func xyz(_ c: (Double, Double)) -> [Double] { [c.0 / c.1, 1, (1 - c.0 - c.1) / c.1] }
        let r = xyz(red), g = xyz(green), b = xyz(blue), w = xyz(white)
        let columns = [r, g, b]
        let primaries = (0..<9).map { (i: Int) -> Double in columns[i % 3][i / 3] }
        let s = Self.multiply(Self.inverse(primaries), w)
        return (0..<9).map { (i: Int) -> Double in columns[i % 3][i / 3] * s[i % 3] }
    }

    /// Linear RGB in these primaries to linear RGB in `other`'s (same white point), row-major.
    func conversion(to other: Chromaticities) -> [Double] {
        let a = Self.inverse(other.toXYZ), b = toXYZ
        return (0..<9).map { (i: Int) -> Double in
            let row = i / 3, column = i % 3
            var sum = 0.0
            for k in 0..<3 { sum += a[row * 3 + k] * b[k * 3 + column] }
            return sum
        }
    }

    private static func multiply(_ m: [Double], _ v: [Double]) -> [Double] {
        (0..<3).map { r in m[r * 3] * v[0] + m[r * 3 + 1] * v[1] + m[r * 3 + 2] * v[2] }
    }

    private static func inverse(_ m: [Double]) -> [Double] {
        // Cofactors, transposed (the adjugate), over the determinant.
        func minor(_ r0: Int, _ r1: Int, _ c0: Int, _ c1: Int) -> Double { m[r0 * 3 + c0] * m[r1 * 3 + c1] - m[r0 * 3 + c1] * m[r1 * 3 + c0] }
        let adjugate: [Double] = [
            minor(1, 2, 1, 2), -minor(0, 2, 1, 2), minor(0, 1, 1, 2),
            -minor(1, 2, 0, 2), minor(0, 2, 0, 2), -minor(0, 1, 0, 2),
            minor(1, 2, 0, 1), -minor(0, 2, 0, 1), minor(0, 1, 0, 1),
        ]
        let det = m[0] * adjugate[0] + m[1] * adjugate[3] + m[2] * adjugate[6]
        return adjugate.map { $0 / det }
    }
}
