import CFFmpeg
import CPictureKernels
import Foundation
import TestSupport
import Testing

@testable import Media

/// What a source's pictures need (colour conversion, deinterlacing), decided from its tags and what its pictures show.
@Suite(.timeLimit(.minutes(5)))
struct PictureProcessingTests {
    /// 2 s of 576i50 (PAL SD): testsrc2 at 50 pictures a second woven into 25 frames, coded progressive and tagged so
    /// (a source flagged wrong). `bottomFirst` moves the fields so the bottom one comes first, as DV records.
    static func woven(bottomFirst: Bool) throws -> String {
        let order = bottomFirst ? ",fieldorder=bff" : ""
        return try MediaFixtures.media(
            "woven-576i-\(bottomFirst ? "bff" : "tff").mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=720x576:rate=50", "-t", "2",
                "-vf", "tinterlace=mode=interleave_top,setfield=tff\(order),setfield=prog",
                "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p",
            ]
        ).path
    }

    /// The 576i clip coded interlaced and tagged top field first.
    static func taggedInterlaced() throws -> String {
        try MediaFixtures.media(
            "tagged-576i.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=720x576:rate=50", "-t", "1",
                "-vf", "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", "-crf", "14",
                "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-pix_fmt", "yuv420p",
            ]
        ).path
    }

    /// 2 s of a 160x120 test card: every detail one pixel high, which libavfilter's idet took for top field first.
    static func tinyCard() throws -> String {
        try MediaFixtures.media(
            "tiny-card.mp4",
            ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "2", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p"]
        ).path
    }

    /// 0.4 s of 640x360 HLG (BT.2020, 10-bit HEVC, SDR white at 203 cd/m²) made from the same test card as
    /// `MediaFixtures.pqSmall`.
    static func hlgSmall() throws -> String {
        try MediaFixtures.media(
            "hlg-640.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25,hue=s=0.7", "-t", "0.4", "-vf",
                "format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                    + "zscale=t=linear:npl=203,format=gbrpf32le,zscale=p=bt2020:t=arib-std-b67:m=bt2020nc:r=tv:npl=203,"
                    + "format=yuv420p10le",
                "-c:v", "libx265", "-x265-params", "log-level=error:crf=16", "-color_primaries", "bt2020",
                "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc",
            ]
        ).path
    }

    /// How far a converter's 640x360 yuv420p pictures of an HDR source are from libavfilter's chain
    /// (`filterDescription`: zscale, `tonemap=mobius`, zscale): the largest difference and the PSNR of each plane.
    static func againstLibavfilter(_ path: String, oneHDRPass: Bool, threads: Int32) throws -> (worst: [Int], psnr: [Double], pictures: Int) {
        let source = try MediaSource(path: path)
        let stream = try source.pictureStream()
        let decoder = try StreamDecoder(stream, of: source, threads: 1)
        let processing = PictureProcessing(stream: stream, fieldOrder: .progressive)
        let converter = try PictureConverter(
            width: 640, height: 360, clockwiseRotation: 0, pixelFormat: AV_PIX_FMT_YUV420P, fullRange: false, threads: Int(threads),
            processing: processing, timeBase: stream.pointee.time_base, oneHDRPass: oneHDRPass)
        let packet = try Packet(), expected = try Frame()
        var reference: FilterGraph?
        var worst = [0, 0, 0], squares = [0.0, 0.0, 0.0], samples = [0, 0, 0], compared = 0
        func compare(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
            if reference == nil {
                let peak = aura_frame_peak_luminance(frame)
                let description =
                    processing.filterDescription(
                        width: 640, height: 360, output: .video(AV_PIX_FMT_YUV420P),
                        peakLuminance: processing.colour.peakLuminance ?? (peak > 0 ? peak : nil)) ?? ""
                reference = try FilterGraph(description, input: frame, timeBase: stream.pointee.time_base, threads: 1)
            }
            try reference!.push(frame)
            expected.unref()
            guard try reference!.pull(into: expected.pointer) else { return }
            try converter.convert(frame) { ours throws(MediaError) in
                compared += 1
                for plane in 0..<3 {
                    let rows = plane == 0 ? 360 : 180, columns = plane == 0 ? 640 : 320
                    guard let a = ours.plane(plane), let b = expected.pointer.plane(plane) else {
                        Issue.record("plane \(plane) is missing")
                        return
                    }
                    let strideA = Int(ours.stride(plane)), strideB = Int(expected.pointer.stride(plane))
                    for row in 0..<rows {
                        for column in 0..<columns {
                            let difference = abs(Int(a[row * strideA + column]) - Int(b[row * strideB + column]))
                            worst[plane] = max(worst[plane], difference)
                            squares[plane] += Double(difference * difference)
                        }
                    }
                    samples[plane] += rows * columns
                }
            }
        }
        while try source.read(into: packet) {
            defer { packet.unref() }
            guard decoder.accepts(packet) else { continue }
            try decoder.decode(packet.pointer) { frame throws(MediaError) in try compare(frame) }
        }
        try decoder.decode(nil) { frame throws(MediaError) in try compare(frame) }
        let psnr = (0..<3).map { plane in
            squares[plane] == 0 ? 99 : 10 * log10(255 * 255 / (squares[plane] / Double(samples[plane])))
        }
        return (worst, psnr, compared)
    }

    /// The converter's own Möbius loop between two graphs (pictures other than video) gives libavfilter's `tonemap`
    /// pictures: every sample within one level, on every plane of every picture.
    @Test func theToneMapperMakesLibavfiltersPictures() async throws {
        let source = try MediaSource(path: MediaFixtures.pqSmall)
        let processing = PictureProcessing(stream: try source.pictureStream(), fieldOrder: .progressive)
        #expect(processing.toneMaps && processing.colour.peakLuminance == nil, "x265 puts MaxCLL in the frames")
        let result = try await OffPool.run { try Self.againstLibavfilter(MediaFixtures.pqSmall, oneHDRPass: false, threads: 1) }
        #expect(result.pictures == 10)
        #expect(result.worst.max() ?? 99 <= 1, "largest differences from libavfilter's tonemap: \(result.worst) levels")
    }

    /// HDR video in one pass (`HDRToSDR`) against libavfilter's whole chain, for PQ (MaxCLL in the frames) and HLG (no
    /// metadata). Measured 47.6 / 46.7 dB luma and 43.5–46.3 dB chroma: the two part only where zscale resamples chroma
    /// bicubically and the pass takes it as constant over its 2×2 block, at the test card's sharp colour edges (up to 56
    /// levels on a few luma samples there; flat areas agree within a level).
    @Test(arguments: ["pq", "hlg"]) func hdrVideoInOnePassMakesTheChainsPictures(_ transfer: String) async throws {
        let path = transfer == "pq" ? MediaFixtures.pqSmall : try Self.hlgSmall()
        let result = try await OffPool.run { try Self.againstLibavfilter(path, oneHDRPass: true, threads: 2) }
        #expect(result.pictures == 10)
        #expect(result.psnr[0] >= 44, "luma PSNR against libavfilter: \(result.psnr), worst \(result.worst)")
        #expect(result.psnr[1] >= 40 && result.psnr[2] >= 40, "chroma PSNR against libavfilter: \(result.psnr), worst \(result.worst)")
    }

    /// Whole-factor area reduction: every output sample is the rounded mean of its block, the picture's last column
    /// and row repeated where a block runs past them; for 8- and 16-bit samples, factors with a fast path and not, and
    /// 10- and 12-bit samples rounded once to 8 bits. A quarter of the samples are the largest value, so whole blocks
    /// reach the largest sums.
    @Test(arguments: [
        (2, 1, 1, 0), (3, 1, 1, 0), (4, 1, 1, 0), (3, 2, 2, 0), (4, 2, 2, 0), (5, 2, 2, 0), (2, 2, 1, 2), (3, 2, 1, 2),
        (4, 2, 1, 4), (5, 2, 1, 2),
    ])
    func areaReductionAveragesBlocks(_ factor: Int, _ inBytes: Int, _ outBytes: Int, _ shift: Int) {
        let width = 101, height = 77
        let reducedWidth = width / factor + 1, reducedHeight = height / factor + 1  // one block past each edge
        let largest = inBytes == 2 ? (outBytes == 1 ? 1 << (8 + shift) : 1024) - 1 : 255
        var source = [UInt16](repeating: 0, count: width * height)
        var generator = SplitMix64(seed: UInt64(factor * 100 + inBytes * 10 + shift))
        for i in source.indices {
            source[i] = generator.next() % 4 == 0 ? UInt16(largest) : UInt16(generator.next() % UInt64(largest + 1))
        }
        var reduced = [UInt8](repeating: 0, count: reducedWidth * reducedHeight * outBytes)
        let sourceBytes: [UInt8] =
            inBytes == 2 ? source.withUnsafeBytes { Array($0) } : source.map { UInt8($0) }
        sourceBytes.withUnsafeBufferPointer { src in
            reduced.withUnsafeMutableBufferPointer { dst in
                aura_box_reduce_plane_bits(
                    src.baseAddress, width * inBytes, Int32(width), Int32(height), dst.baseAddress, reducedWidth * outBytes,
                    Int32(reducedWidth), Int32(reducedHeight), Int32(factor), Int32(inBytes), Int32(outBytes), Int32(shift))
            }
        }
        var wrong = 0
        for y in 0..<reducedHeight {
            for x in 0..<reducedWidth {
                var sum = 0
                for r in 0..<factor {
                    for c in 0..<factor { sum += Int(source[min(y * factor + r, height - 1) * width + min(x * factor + c, width - 1)]) }
                }
                let divisor = factor * factor << shift
                let expected = min((sum + divisor / 2) / divisor, outBytes == 2 ? 65535 : 255)
                let got =
                    outBytes == 2
                    ? Int(reduced[(y * reducedWidth + x) * 2]) | Int(reduced[(y * reducedWidth + x) * 2 + 1]) << 8
                    : Int(reduced[y * reducedWidth + x])
                if got != expected { wrong += 1 }
            }
        }
        #expect(wrong == 0, "\(wrong) of \(reducedWidth * reducedHeight) samples are not their block's mean")
    }

    /// A 10-bit BT.709 source twice the output's size takes no colour graph: its video pictures are each 2×2 block's
    /// mean rounded once to 8 bits (zscale's depth conversion of limited range, a quarter of the 10-bit code, without
    /// its second rounding, within 0-255), passed through swscale unchanged, on every plane.
    @Test func tenBitBT709VideoIsReducedStraightToEightBits() async throws {
        let path = try MediaFixtures.media(
            "bt709-10bit-1280.mkv",
            [
                "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=20:allf=t", "-t", "0.12", "-vf",
                "format=yuv420p10le", "-c:v", "ffv1", "-color_primaries", "bt709", "-color_trc", "bt709",
                "-colorspace", "bt709", "-color_range", "tv",
            ]
        ).path
        let (wrong, compared, pictures) = try await OffPool.run { () throws -> (Int, Int, Int) in
            let source = try MediaSource(path: path)
            let stream = try source.pictureStream()
            let decoder = try StreamDecoder(stream, of: source, threads: 1)
            let processing = PictureProcessing(stream: stream, fieldOrder: .progressive)
            let converter = try PictureConverter(
                width: 640, height: 360, clockwiseRotation: 0, pixelFormat: AV_PIX_FMT_YUV420P, fullRange: false, threads: 1,
                processing: processing, timeBase: stream.pointee.time_base)
            #expect(processing.convertsColour(for: .video(AV_PIX_FMT_YUV420P)), "10 bits call for the graph without the reduction")
            let packet = try Packet()
            var wrong = 0, compared = 0, pictures = 0
            func check(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
                // The expected means, worked out before the converter sees the frame.
                var expected: [[Int]] = []
                for plane in 0..<3 {
                    let (columns, rows) = plane == 0 ? (640, 360) : (320, 180)
                    let stride = Int(frame.stride(plane)) / 2
                    let samples = UnsafeRawPointer(frame.plane(plane)!).assumingMemoryBound(to: UInt16.self)
                    var means: [Int] = []
                    for row in 0..<rows {
                        for column in 0..<columns {
                            var sum = 0
                            for dy in 0..<2 { for dx in 0..<2 { sum += Int(samples[(2 * row + dy) * stride + 2 * column + dx]) } }
                            means.append(min((sum + 8) / 16, 255))
                        }
                    }
                    expected.append(means)
                }
                try converter.convert(frame) { ours throws(MediaError) in
                    pictures += 1
                    #expect(ours.pointee.format == AV_PIX_FMT_YUV420P.rawValue && ours.pointee.width == 640)
                    for plane in 0..<3 {
                        let (columns, rows) = plane == 0 ? (640, 360) : (320, 180)
                        let stride = Int(ours.stride(plane))
                        for row in 0..<rows {
                            for column in 0..<columns {
                                compared += 1
                                if Int(ours.plane(plane)![row * stride + column]) != expected[plane][row * columns + column] { wrong += 1 }
                            }
                        }
                    }
                }
            }
            while try source.read(into: packet) {
                defer { packet.unref() }
                guard decoder.accepts(packet) else { continue }
                try decoder.decode(packet.pointer) { frame throws(MediaError) in try check(frame) }
            }
            try decoder.decode(nil) { frame throws(MediaError) in try check(frame) }
            try converter.finish { _ throws(MediaError) in }
            #expect(!converter.convertsColour, "the reduced pictures are 8-bit BT.709: nothing for the graph to do")
            return (wrong, compared, pictures)
        }
        #expect(pictures == 3)
        #expect(wrong == 0, "\(wrong) of \(compared) samples are not their block's mean rounded to 8 bits")
    }

    @Test func interlacingIsFoundFromTagsOrFromThePictures() async throws {
        let verdicts = try await OffPool.run {
            (
                tagged: try ScanDetector.fieldOrder(path: Self.taggedInterlaced()),
                top: try ScanDetector.fieldOrder(path: Self.woven(bottomFirst: false)),
                bottom: try ScanDetector.fieldOrder(path: Self.woven(bottomFirst: true)),
                card: try ScanDetector.fieldOrder(path: Self.tinyCard()),
                clip: try ScanDetector.fieldOrder(path: MediaFixtures.h264AAC),
                rotated: try ScanDetector.fieldOrder(path: MediaFixtures.rotated)
            )
        }
        #expect(verdicts.tagged == .topFieldFirst)
        #expect(verdicts.top == .topFieldFirst, "woven top field first, tagged progressive")
        #expect(verdicts.bottom == .bottomFieldFirst, "woven bottom field first, tagged progressive")
        #expect(verdicts.card == .progressive && verdicts.clip == .progressive && verdicts.rotated == .progressive)
    }

    @Test func theFilterGraphFollowsTheTagsAndTheOutput() throws {
        let pq = SourceColour(
            primaries: Int32(AVCOL_PRI_BT2020.rawValue), transfer: Int32(AVCOL_TRC_SMPTE2084.rawValue),
            matrix: Int32(AVCOL_SPC_BT2020_NCL.rawValue), range: Int32(AVCOL_RANGE_MPEG.rawValue), peakLuminance: 1015)
        let hdr = PictureProcessing(colour: pq, fieldOrder: .progressive, sourceHeight: 2160, bitDepth: 10)
        #expect(hdr.toneMaps && !hdr.deinterlaces && pq.hdr == .pq)
        let graph = hdr.filterDescription(width: 1280, height: 720, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: pq.peakLuminance)
        #expect(graph?.hasPrefix("scale=w=1280:h=720:flags=bicubic:in_color_matrix=bt2020,") == true, "\(graph ?? "")")
        #expect(graph?.contains("pin=9:tin=16:min=9:rin=limited:t=linear:npl=203.0:p=709") == true, "\(graph ?? "")")
        #expect(graph?.contains("tonemap=tonemap=mobius:param=0.9:desat=0:peak=5.0") == true, "MaxCLL 1015 / 203: \(graph ?? "")")
        #expect(graph?.hasSuffix("zscale=tin=linear:pin=709:t=709:m=709:r=limited:f=bicubic,format=yuv420p") == true, "\(graph ?? "")")
        // The plan for video: the graph scales, to 10 bits, and one pass does the rest.
        let plan = try #require(hdr.filterPlan(width: 1280, height: 720, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: 1015))
        #expect(plan.graph == "scale=w=1280:h=720:flags=bicubic:in_color_matrix=bt2020,format=yuv420p10le", "\(plan.graph)")
        #expect(plan.kernel?.inputFormat == AV_PIX_FMT_YUV420P10LE && plan.toneMapping == nil && plan.finish == nil)
        // Otherwise (and for other outputs): the same graph as libavfilter's around tone mapping done in place.
        let twoGraphs = try #require(
            hdr.filterPlan(width: 1280, height: 720, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: 1015, oneHDRPass: false))
        #expect(twoGraphs.graph.hasSuffix("format=gbrpf32le") && twoGraphs.toneMapping?.knee == 0.9 && twoGraphs.toneMapping?.peak == 5)
        #expect(twoGraphs.finish == "zscale=tin=linear:pin=709:t=709:m=709:r=limited:f=bicubic,format=yuv420p")
        #expect(hdr.filterPlan(width: 1280, height: 720, output: .rgb(AV_PIX_FMT_RGBA), peakLuminance: 1015)?.kernel == nil)
        // No metadata: 1000 cd/m²; HLG.
        var hlg = pq
        hlg.transfer = Int32(AVCOL_TRC_ARIB_STD_B67.rawValue)
        hlg.peakLuminance = nil
        let phone = PictureProcessing(colour: hlg, fieldOrder: .progressive, sourceHeight: 1080, bitDepth: 10)
        #expect(
            phone.filterDescription(width: 1280, height: 720, output: .rgb(AV_PIX_FMT_RGBA), peakLuminance: nil)?
                .contains("peak=\(1000 / 203.0)") == true)

        // 8-bit BT.709 progressive: swscale alone, for every output.
        let bt709 = PictureProcessing(colour: .bt709, fieldOrder: .progressive, sourceHeight: 1080)
        #expect(bt709.filterDescription(width: 640, height: 360, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: nil) == nil)
        #expect(bt709.filterDescription(width: 640, height: 360, output: .rgb(AV_PIX_FMT_RGB24), peakLuminance: nil) == nil)
        // …JPEG too, but its YCbCr is BT.601's: converted by swscale through RGB, not relabelled.
        #expect(bt709.filterDescription(width: 640, height: 360, output: .jpeg, peakLuminance: nil) == nil)
        #expect(bt709.convertsMatrixForJPEG)
        // Untagged SD to a proxy: the matrix becomes BT.709, the primaries stay.
        let untagged = SourceColour(
            primaries: Int32(AVCOL_PRI_UNSPECIFIED.rawValue), transfer: Int32(AVCOL_TRC_UNSPECIFIED.rawValue),
            matrix: Int32(AVCOL_SPC_UNSPECIFIED.rawValue), range: Int32(AVCOL_RANGE_UNSPECIFIED.rawValue))
        let sd = PictureProcessing(colour: untagged, fieldOrder: .bottomFieldFirst, sourceHeight: 576)
        #expect(!sd.convertsMatrixForJPEG, "SD YCbCr is JFIF's already")
        let sdGraph = sd.filterDescription(width: 854, height: 480, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: nil)
        #expect(sdGraph?.hasPrefix("bwdif=mode=send_frame:parity=bff:deint=all,scale=w=854:h=480") == true, "\(sdGraph ?? "")")
        #expect(sdGraph?.contains("pin=1:tin=1:min=6:rin=limited:t=709:p=709:m=709") == true, "\(sdGraph ?? "")")
        // Display P3 SDR: mapped in linear light by zscale.
        let p3 = SourceColour(
            primaries: Int32(AVCOL_PRI_SMPTE432.rawValue), transfer: Int32(AVCOL_TRC_IEC61966_2_1.rawValue),
            matrix: Int32(AVCOL_SPC_BT709.rawValue), range: Int32(AVCOL_RANGE_MPEG.rawValue))
        #expect(p3.isWideGamut && p3.hdr == nil)
        let p3Graph = PictureProcessing(colour: p3, fieldOrder: .progressive, sourceHeight: 1080)
            .filterDescription(width: 1280, height: 720, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: nil)
        #expect(p3Graph?.contains("pin=12:tin=13:min=1:rin=limited:t=709:p=709:m=709") == true, "\(p3Graph ?? "")")
    }
}
